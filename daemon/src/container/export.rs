//! `GET /containers/{id}/export`: the container's filesystem as one flat tar.

use super::ContainerService;
use crate::error::Result;
use crate::stream::ChannelWriter;
use bytes::Bytes;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

impl ContainerService {
    /// Streams a tar of the container's root filesystem (image layers plus its changes, history
    /// lost), mounting it for the duration.
    pub fn export(self: &Arc<Self>, name: &str) -> Result<mpsc::Receiver<std::io::Result<Bytes>>> {
        let e = self.lookup(name)?;
        let rw = super::create::layer_id(&e.data().mount_id)?;
        let (tx, rx) = mpsc::channel(16);
        let svc = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = svc.graph.get(&rw).map_err(std::io::Error::other).and_then(|root| {
                let written = write_tar(&root, ChannelWriter(tx.clone()));
                if let Err(err) = svc.graph.put(&rw) {
                    tracing::warn!(container_id = %e.id, error = %err, "unmounting after export");
                }
                written
            });
            if let Err(err) = result {
                tracing::warn!(container_id = %e.id, error = %err, "export failed");
                let _ = tx.blocking_send(Err(err));
            }
        });
        Ok(rx)
    }
}

fn write_tar(root: &Path, out: ChannelWriter) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut names: Vec<_> = std::fs::read_dir(root)?.collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for ent in names {
        let path = ent.path();
        let name = ent.file_name();
        if ent.file_type()?.is_dir() {
            b.append_dir_all(&name, &path)?;
        } else {
            b.append_path_with_name(&path, &name)?;
        }
    }
    b.into_inner()?.flush()
}
