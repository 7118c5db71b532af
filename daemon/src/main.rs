//! rdockerd: the rdocker daemon. Serves the Docker Engine API on Unix sockets.
//!
//! `rdockerd zygote` and `rdockerd init <bundle>` are not for users: the execdriver re-executes
//! this binary once as the single-threaded zygote that forks a monitor (shim) per container, or
//! as one such monitor directly (the daemon itself is multi-threaded and never forks to run Rust
//! code).
#![forbid(unsafe_code)]

mod container;
mod daemon;
mod error;
mod image;
mod paths;
mod prune;
mod routes;
mod stream;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use execdriver::{ExecConfig, LinuxExecDriver};
use graphdriver::{GraphDriver, Overlay2Driver, VfsDriver};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StorageDriver {
    Overlay2,
    Vfs,
}

/// rdockerd — a Docker-compatible container engine.
#[derive(Debug, Parser)]
#[command(name = "rdockerd", version)]
struct Config {
    /// Socket(s) to serve the API on (`unix:///path`); repeatable.
    #[arg(short = 'H', long = "host", default_value = "unix:///run/rdocker.sock")]
    hosts: Vec<String>,
    /// Root of persistent state (images, layers, containers).
    #[arg(long, default_value = "/var/lib/rdocker")]
    data_root: PathBuf,
    /// Root of runtime state (container bundles).
    #[arg(long, default_value = "/run/rdocker")]
    exec_root: PathBuf,
    /// Storage driver; default overlay2 when the kernel supports it, else vfs.
    #[arg(long, value_enum)]
    storage_driver: Option<StorageDriver>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(short = 'l', long, default_value = "info")]
    log_level: String,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
    /// File to write the daemon's pid to.
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// Registry (host[:port]) that may be reached over plain HTTP; repeatable. Loopback
    /// registries always may.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// Parent cgroup of all containers.
    #[arg(long, default_value = "rdocker")]
    cgroup_parent: String,
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("init") => std::process::exit(execdriver::helper::main()),
        Some("zygote") => std::process::exit(execdriver::zygote::main()),
        _ => {}
    }
    let cfg = Config::parse();
    init_logging(&cfg);
    let result = if nix::unistd::geteuid().is_root() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(64)
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(run(cfg)))
    } else {
        Err(anyhow::anyhow!("rdockerd needs to run as root"))
    };
    if let Err(e) = result {
        eprintln!("rdockerd: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_root)
        .with_context(|| format!("creating {}", cfg.data_root.display()))?;
    std::fs::create_dir_all(&cfg.exec_root)
        .with_context(|| format!("creating {}", cfg.exec_root.display()))?;
    let _lock = lock_data_root(&cfg.data_root)?;
    let paths = paths::Paths {
        data_root: cfg.data_root.canonicalize()?,
        exec_root: cfg.exec_root.canonicalize()?,
    };
    let graph = pick_storage_driver(cfg.storage_driver, &paths)?;
    let helper = std::env::current_exe().context("locating rdockerd for the container monitor")?;
    let exec = Arc::new(LinuxExecDriver::new(ExecConfig {
        helper,
        helper_args: vec!["init".into()],
        zygote_args: Some(vec!["zygote".into()]),
    })?);
    tracing::info!(driver = graph.name(), cgroup = %exec_version(&exec), "drivers ready");
    let d = daemon::Daemon::new(
        paths,
        graph,
        exec,
        cfg.cgroup_parent.clone(),
        cfg.insecure_registries.clone(),
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let mut sockets = Vec::new();
    for host in &cfg.hosts {
        let path = host
            .strip_prefix("unix://")
            .with_context(|| format!("unsupported host {host:?}: only unix:///path is served"))?;
        let listener = bind_socket(Path::new(path)).await?;
        sockets.push(PathBuf::from(path));
        let app = routes::app(d.clone());
        let mut stop = stop_rx.clone();
        servers.spawn(async move {
            let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
            axum::serve(listener, svc)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(socket = path, "API listening");
    }
    if let Some(p) = &cfg.pidfile {
        ::image::write_atomic(p, std::process::id().to_string().as_bytes())?;
    }
    tokio::select! {
        _ = shutdown_signal() => {}
        Some(r) = servers.join_next() => r.context("server task")?.context("serving the API")?,
    }
    // Stop accepting; give requests in flight a moment, but never wait on streams that only end
    // with a container (attach, wait, logs -f): the containers keep running without us.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    if let Some(p) = &cfg.pidfile {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("rdockerd stopped; containers keep running under their monitors");
    Ok(())
}

fn exec_version(e: &LinuxExecDriver) -> String {
    use execdriver::ExecDriver;
    format!("v{}", e.cgroup_version())
}

/// One daemon per data root: an exclusive lock held for the daemon's life.
fn lock_data_root(root: &Path) -> anyhow::Result<nix::fcntl::Flock<File>> {
    let p = root.join("rdockerd.lock");
    let f = File::create(&p).with_context(|| format!("opening {}", p.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        anyhow::anyhow!(
            "another rdockerd is using the data root {} ({e}); stop it or pick another --data-root",
            root.display()
        )
    })
}

fn pick_storage_driver(
    choice: Option<StorageDriver>,
    paths: &paths::Paths,
) -> anyhow::Result<Arc<dyn GraphDriver>> {
    let overlay_root = paths.driver_root("overlay2");
    let choice = choice.unwrap_or_else(|| {
        if Overlay2Driver::supported(&overlay_root) {
            StorageDriver::Overlay2
        } else {
            tracing::warn!("overlayfs is not usable here; falling back to the vfs storage driver");
            StorageDriver::Vfs
        }
    });
    Ok(match choice {
        StorageDriver::Overlay2 => Arc::new(Overlay2Driver::new(&overlay_root)?),
        StorageDriver::Vfs => Arc::new(VfsDriver::new(&paths.driver_root("vfs"))?),
    })
}

/// Binds a socket with mode 0660, group `rdocker` if it exists; a stale socket file is replaced,
/// a live one (another daemon) is an error.
async fn bind_socket(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            bail!("{} is in use by another daemon", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    // From /etc/group as dockerd does: NSS would load its modules into the daemon for good.
    let gid = std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|groups| execdriver::user::group_id(&groups, "rdocker"))
        .map(nix::unistd::Gid::from_raw);
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), gid)?;
    Ok(listener)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
}
