//! Where the daemon keeps things: the data root (persistent) and exec root (runtime state).

use std::path::PathBuf;

/// The daemon's directories.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
}

impl Paths {
    /// `containers/<id>/` under the data root.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }
    /// The container's json-file log.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }
    /// The runtime bundle of a running container (spec, exit status) under the exec root.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.exec_root.join("containers").join(id)
    }
    /// The image store's root for a storage driver.
    pub fn image_root(&self, driver: &str) -> PathBuf {
        self.data_root.join("image").join(driver)
    }
    /// The storage driver's home.
    pub fn driver_root(&self, driver: &str) -> PathBuf {
        self.data_root.join(driver)
    }
}
