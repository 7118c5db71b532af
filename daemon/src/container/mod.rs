//! The container service: owns every container's state machine, per-container locks, the
//! on-disk records under `containers/<id>/`, and the live plumbing (output fan-out, stdin, waits).

mod attach;
mod create;
mod export;
mod logs;
mod names;
mod pause;
mod query;
mod remove;
mod restore;
mod start;
mod stop;

pub use attach::AttachStreams;
pub use create::shared_init_layer;
pub use logs::{LogOptions, LogStream};
pub use names::new_id;
pub use query::ListOptions;
pub use stop::WaitCondition;

use crate::error::{ErrorKind, Result, ServiceError};
use crate::paths::Paths;
use api::container::{ContainerConfig, ContainerState, HostConfig};
use bytes::Bytes;
use execdriver::ExecDriver;
use graphdriver::GraphDriver;
use image::ImageStore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, mpsc, watch};

/// A container as persisted in `containers/<id>/config.v2.json` (the host config lives beside it
/// in `hostconfig.json`, as in Docker).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    #[serde(rename = "ID")]
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    /// The image id, `sha256:…`.
    pub image: String,
    /// With the leading slash, as Docker stores it.
    pub name: String,
    pub driver: String,
    /// Graphdriver id of the read-write layer.
    pub mount_id: String,
    pub state: ContainerState,
    pub restart_count: i64,
    pub has_been_started: bool,
    /// The per-container monitor process while running (0 otherwise).
    pub shim_pid: i32,
    #[serde(skip)]
    pub host_config: HostConfig,
}

/// What happened to a container, for waiters: a counter of exits and whether it is gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Life {
    pub starts: u64,
    pub exits: u64,
    pub exit_code: i64,
    pub running: bool,
    pub removed: bool,
}

/// One message of a container's live output.
#[derive(Debug, Clone)]
pub enum Output {
    /// Bytes on stdout (1) or stderr (2).
    Data(u8, Bytes),
    /// The process exited; no more output for this run.
    Exited,
}

/// Input for the container's stdin, queued until the process runs.
#[derive(Debug)]
pub enum Input {
    Data(Bytes),
    Close,
    Resize(u16, u16),
}

/// A container's live state: its record plus the channels that connect clients to its process.
pub struct Entry {
    pub id: String,
    data: Mutex<Container>,
    /// Serialises lifecycle operations (start, stop, remove) on this container.
    op: tokio::sync::Mutex<()>,
    output: broadcast::Sender<Output>,
    life: watch::Sender<Life>,
    input_tx: Mutex<mpsc::UnboundedSender<Input>>,
    input_rx: Mutex<Option<mpsc::UnboundedReceiver<Input>>>,
    /// The read-write layer is mounted for this container (between start and exit cleanup).
    mounted: std::sync::atomic::AtomicBool,
}

impl Entry {
    fn new(c: Container) -> Arc<Self> {
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let life = Life {
            running: c.state.running,
            exit_code: c.state.exit_code,
            ..Life::default()
        };
        Arc::new(Self {
            id: c.id.clone(),
            data: Mutex::new(c),
            op: tokio::sync::Mutex::new(()),
            output: broadcast::channel(1024).0,
            life: watch::channel(life).0,
            input_tx: Mutex::new(input_tx),
            input_rx: Mutex::new(Some(input_rx)),
            mounted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The record (locked briefly; never held across an await).
    pub fn data(&self) -> MutexGuard<'_, Container> {
        self.data
            .lock()
            .expect("container record lock poisoned by a panic")
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Container {
        self.data().clone()
    }

    pub fn subscribe_output(&self) -> broadcast::Receiver<Output> {
        self.output.subscribe()
    }

    pub fn subscribe_life(&self) -> watch::Receiver<Life> {
        self.life.subscribe()
    }

    /// A sender for the container's stdin; input sent before start is delivered at start.
    pub fn input(&self) -> mpsc::UnboundedSender<Input> {
        self.input_tx.lock().expect("input lock poisoned").clone()
    }

    /// Takes the stdin queue for a run; senders handed out before and during the run feed it.
    fn take_input(&self) -> Option<mpsc::UnboundedReceiver<Input>> {
        self.input_rx.lock().expect("input lock poisoned").take()
    }

    /// After an exit: a fresh stdin queue for the next run.
    fn reset_input(&self) {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.input_tx.lock().expect("input lock poisoned") = tx;
        *self.input_rx.lock().expect("input lock poisoned") = Some(rx);
    }
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Arc<Entry>>,
    /// Name without the slash → id.
    names: HashMap<String, String>,
}

/// The container service.
pub struct ContainerService {
    paths: Arc<Paths>,
    graph: Arc<dyn GraphDriver>,
    exec: Arc<dyn ExecDriver>,
    images: Arc<ImageStore>,
    cgroup_parent: String,
    table: Mutex<Table>,
    /// Held while a shared init layer is looked for and made (see `create::init_layer`).
    init_layers: Mutex<()>,
}

impl ContainerService {
    pub fn new(
        paths: Arc<Paths>,
        graph: Arc<dyn GraphDriver>,
        exec: Arc<dyn ExecDriver>,
        images: Arc<ImageStore>,
        cgroup_parent: String,
    ) -> Self {
        Self {
            paths,
            graph,
            exec,
            images,
            cgroup_parent,
            table: Mutex::new(Table::default()),
            init_layers: Mutex::new(()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .expect("container table lock poisoned by a panic")
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn lookup(&self, name_or_id: &str) -> Result<Arc<Entry>> {
        let t = self.table();
        if let Some(e) = t.by_id.get(name_or_id) {
            return Ok(e.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(id) = t.names.get(name) {
            if let Some(e) = t.by_id.get(id) {
                return Ok(e.clone());
            }
        }
        if !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Arc<Entry>> = t
                .by_id
                .values()
                .filter(|e| e.id.starts_with(name_or_id))
                .collect();
            match hits.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "multiple IDs found with provided prefix: {name_or_id}"
                    )))
                }
            }
        }
        Err(ServiceError::not_found(format!(
            "No such container: {name_or_id}"
        )))
    }

    /// The cgroup parent of a container: its `HostConfig.CgroupParent`, else the daemon's.
    fn cgroup_parent_of(&self, c: &Container) -> String {
        if c.host_config.cgroup_parent.is_empty() {
            self.cgroup_parent.clone()
        } else {
            c.host_config.cgroup_parent.clone()
        }
    }

    /// All containers.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.table().by_id.values().cloned().collect()
    }

    /// How many containers are in each state: (total, running, paused, stopped).
    pub fn counts(&self) -> (i64, i64, i64, i64) {
        let entries = self.entries();
        let running = entries.iter().filter(|e| e.data().state.running).count() as i64;
        let total = entries.len() as i64;
        (total, running, 0, total - running)
    }

    /// The containers of each image in use (by image id), with whether each runs: what image
    /// delete and prune must respect.
    pub fn image_users(&self) -> crate::image::ImageUsers {
        let mut out = crate::image::ImageUsers::new();
        for e in self.entries() {
            let d = e.data();
            out.entry(d.image.clone())
                .or_default()
                .push((d.id.clone(), d.state.running));
        }
        out
    }

    /// Saves a state change of an existing container (temp + rename, no fsync): after a power
    /// loss, restore re-derives running/exited from the shim and its exit file anyway. The host
    /// config does not change after create, so only `config.v2.json` is written.
    fn persist(&self, c: &Container) -> Result<()> {
        let path = self.paths.container_dir(&c.id).join("config.v2.json");
        let cfg = serde_json::to_vec(c).expect("container records always serialise");
        image::write_replace(&path, &cfg)
            .map_err(|e| ServiceError::from_err("saving container state", &e))
    }

    /// Writes a new container's `hostconfig.json`, then its `config.v2.json`, each fsynced
    /// before its rename: the record is never torn, and `config.v2.json`, the commit point of
    /// the create, is on disk only after the host config it needs. As with dockerd, neither the
    /// layers and files made before it nor the directory entries are synced: a power loss
    /// right after a create can lose the container (restore then collects its leftovers) or
    /// leave a record whose rootfs is incomplete, which fails to start with the graphdriver's
    /// error and can be removed.
    ///
    /// A `--rm` container's record is not fsynced (temp + rename only, as for state changes):
    /// no such container outlives a machine crash, since restore removes every `--rm`
    /// container that is not running, so the flushes (~1 ms each here) would buy nothing. A
    /// `config.v2.json` torn by the crash is recognised by its `hostconfig.json` and collected
    /// the same way.
    fn write_new_record(&self, c: &Container) -> Result<()> {
        let dir = self.paths.container_dir(&c.id);
        let cfg = serde_json::to_vec(c).expect("container records always serialise");
        let hc = serde_json::to_vec(&c.host_config).expect("host configs always serialise");
        let write = match c.host_config.auto_remove {
            true => image::write_replace,
            false => image::write_synced,
        };
        write(&dir.join("hostconfig.json"), &hc)
            .and_then(|_| write(&dir.join("config.v2.json"), &cfg))
            .map_err(|e| ServiceError::from_err("saving container state", &e))
    }

    fn persist_entry(&self, e: &Entry) -> Result<()> {
        let c = e.snapshot();
        self.persist(&c)
    }
}

/// Docker's timestamp format: RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The zero time Docker shows for never-set timestamps.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl From<ErrorKind> for ServiceError {
    fn from(kind: ErrorKind) -> Self {
        ServiceError::new(kind, "")
    }
}
