//! The `Daemon`: the services and drivers of one rdockerd, composed once at start.

use crate::container::ContainerService;
use crate::error::Result;
use crate::image::ImageService;
use crate::paths::Paths;
use api::image::ImageDeleteItem;
use api::system::{ComponentVersion, Info, Platform, Version};
use execdriver::ExecDriver;
use graphdriver::GraphDriver;
use image::ImageStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything one daemon owns.
pub struct Daemon {
    pub containers: Arc<ContainerService>,
    pub images: Arc<ImageService>,
    paths: Arc<Paths>,
    graph: Arc<dyn GraphDriver>,
    exec: Arc<dyn ExecDriver>,
    id: String,
}

impl Daemon {
    /// Builds the services over the chosen drivers and restores persisted containers.
    pub async fn new(
        paths: Paths,
        graph: Arc<dyn GraphDriver>,
        exec: Arc<dyn ExecDriver>,
        cgroup_parent: String,
        insecure_registries: Vec<String>,
    ) -> anyhow::Result<Arc<Self>> {
        let paths = Arc::new(paths);
        let store = Arc::new(ImageStore::open(&paths.image_root(graph.name()))?);
        let containers = Arc::new(ContainerService::new(
            paths.clone(),
            graph.clone(),
            exec.clone(),
            store.clone(),
            cgroup_parent,
        ));
        let store_for_gc = store.clone();
        let images = Arc::new(ImageService::new(graph.clone(), store, insecure_registries));
        // Layers left by a load or pull that a crash interrupted belong to no image: drop them.
        crate::image::gc_layers(&store_for_gc, graph.as_ref());
        let restored = containers
            .restore()
            .await
            .map_err(|e| anyhow::anyhow!("restoring containers: {e}"))?;
        tracing::info!(containers = restored, "containers restored");
        let id = engine_id(&paths)?;
        Ok(Arc::new(Self {
            containers,
            images,
            paths,
            graph,
            exec,
            id,
        }))
    }

    /// Deletes an image, refusing while containers use it (Docker's rules).
    pub async fn delete_image(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteItem>> {
        let users = self.containers.image_users();
        self.images.delete(name, force, users).await
    }

    /// `POST /commit`: the container's changes as a new image; with `pause`, a running
    /// container is frozen meanwhile (Docker's default), so the layer is one moment of it.
    pub async fn commit(
        &self,
        container: &str,
        request: crate::image::CommitRequest,
        pause: bool,
    ) -> Result<String> {
        let e = self.containers.lookup(container)?;
        let commit = async {
            let c = e.snapshot();
            let input = crate::image::CommitInput {
                created_by: std::iter::once(c.path.as_str())
                    .chain(c.args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                container_id: c.id,
                mount_id: c.mount_id,
                image_id: c.image,
                config: c.config,
                request,
            };
            self.images.commit(input).await
        };
        let id = self.containers.while_paused(&e, pause, commit).await?;
        Ok(id.to_string())
    }

    /// `POST /images/prune`: the unused images its filters allow.
    pub async fn prune_images(
        &self,
        filters: &api::Filters,
    ) -> Result<api::image::ImagePruneResponse> {
        let users = self.containers.image_users();
        self.images.prune(filters, users).await
    }

    /// `GET /system/df`: images (with shared sizes and container counts), containers with
    /// sizes, and the total size of all layers.
    pub async fn disk_usage(&self) -> Result<api::system::DiskUsage> {
        let users = self.containers.image_users();
        let count = |id: &str| users.get(id).map_or(0, Vec::len);
        let opts = crate::image::ListOptions {
            shared_size: true,
            ..Default::default()
        };
        let images = self.images.list(&opts, Some(&count))?;
        let opts = crate::container::ListOptions {
            all: true,
            size: true,
            ..Default::default()
        };
        let containers = self.containers.list(opts).await?;
        Ok(api::system::DiskUsage {
            layers_size: self.images.layers_size(),
            images,
            containers,
            volumes: Vec::new(),
            build_cache: Vec::new(),
        })
    }

    /// `GET /version`.
    pub fn version(&self) -> Version {
        let kernel = kernel_version();
        let arch = crate::image::host_arch();
        let details = BTreeMap::from([
            ("ApiVersion".to_string(), api::API_VERSION.to_string()),
            ("Arch".to_string(), arch.clone()),
            ("BuildTime".to_string(), String::new()),
            ("Experimental".to_string(), "false".to_string()),
            ("GitCommit".to_string(), String::new()),
            ("GoVersion".to_string(), "n/a (rust)".to_string()),
            ("KernelVersion".to_string(), kernel.clone()),
            (
                "MinAPIVersion".to_string(),
                api::MIN_API_VERSION.to_string(),
            ),
            ("Os".to_string(), "linux".to_string()),
        ]);
        Version {
            platform: Platform {
                name: "rdocker Engine".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: api::ENGINE_VERSION.into(),
                details,
            }],
            version: api::ENGINE_VERSION.into(),
            api_version: api::API_VERSION.into(),
            min_api_version: api::MIN_API_VERSION.into(),
            go_version: "n/a (rust)".into(),
            os: "linux".into(),
            arch,
            kernel_version: kernel,
            ..Default::default()
        }
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Info> {
        let (total, running, paused, stopped) = self.containers.counts();
        let v2 = self.exec.cgroup_version().to_string() == "2";
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .map_or(0, |kb| kb * 1024);
        Ok(Info {
            id: self.id.clone(),
            containers: total,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: stopped,
            images: self.images.count() as i64,
            driver: self.graph.name().into(),
            driver_status: self
                .graph
                .status()
                .into_iter()
                .map(|(k, v)| [k.to_string(), v])
                .collect(),
            memory_limit: true,
            swap_limit: v2
                || std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
                    .exists(),
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: self.exec.cgroup_version().to_string(),
            kernel_version: kernel_version(),
            operating_system: os_name(),
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()) as i64,
            mem_total,
            docker_root_dir: self.paths.data_root.display().to_string(),
            name: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            server_version: api::ENGINE_VERSION.into(),
            default_runtime: "rdocker".into(),
            runtimes: BTreeMap::from([(
                "rdocker".to_string(),
                serde_json::json!({"path": "rdockerd init"}),
            )]),
            security_options: Vec::new(),
            ..Default::default()
        })
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// A stable id for this engine, kept in the data root.
fn engine_id(paths: &Paths) -> anyhow::Result<String> {
    let p = paths.data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&p) {
        return Ok(id.trim().to_string());
    }
    let id = uuid::Uuid::new_v4().to_string();
    image::write_atomic(&p, id.as_bytes())?;
    Ok(id)
}
