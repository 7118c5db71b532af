//! `TestDaemon`: one real rdockerd per test, on its own temp data root, exec root, socket and
//! cgroup parent, with busybox:latest imported. Dropping it stops the daemon and removes every
//! trace (processes, mounts, cgroups, directories), also when the test panicked.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::cleanup;
use crate::cmd::{self, poll, OutputExt, CMD_TIMEOUT};
use crate::http::{self, Response};

/// Startup includes restoring containers; shutdown may wait for in-flight requests.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a container may take to reach a state the test waits for.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this test process: `<prefix>-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A binary built by `cargo build --workspace` into the same target directory as this test:
/// the test executable is `target/<profile>/deps/it-<hash>`, the binaries are in `target/<profile>/`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} not found: build the workspace first (`cargo build --workspace`, or `make test`)",
        bin.display()
    );
    bin
}

/// The image every test daemon starts with, built by `make image`.
pub fn busybox_tar() -> PathBuf {
    let tar = Path::new(env!("CARGO_MANIFEST_DIR")).join("../out/busybox.tar");
    assert!(
        tar.is_file(),
        "{} is missing: run `make image` first (it builds the busybox rootfs tar from /bin/busybox)",
        tar.display()
    );
    tar
}

/// 2 if the host runs the unified cgroup v2 hierarchy, else 1.
pub fn host_cgroup_version() -> u8 {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        2
    } else {
        1
    }
}

pub struct TestDaemon {
    pub root: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub sock: PathBuf,
    pub cgroup_parent: String,
    pub driver: String,
    pub docker_config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl TestDaemon {
    /// A daemon with the default storage driver (overlay2) and busybox:latest imported.
    pub fn start() -> TestDaemon {
        TestDaemon::start_with("overlay2")
    }

    pub fn start_with(driver: &str) -> TestDaemon {
        testutil::require_root();
        let image = busybox_tar();
        let root = testutil::temp_root("rdocker-it-").keep();
        let d = TestDaemon {
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            sock: root.join("rdockerd.sock"),
            cgroup_parent: unique("rdocker-it"),
            driver: driver.to_string(),
            docker_config: root.join("docker-config"),
            log: root.join("rdockerd.log"),
            root,
            child: None,
        };
        // From here on, a panic drops `d`, which cleans up.
        let mut d = d;
        fs::create_dir_all(&d.docker_config).expect("create DOCKER_CONFIG dir");
        d.start_again();
        d.import(&image, "busybox", "latest");
        d
    }

    /// Spawns rdockerd on the same roots and waits until `GET /_ping` answers 200.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open daemon log");
        let child = Command::new(workspace_bin("rdockerd"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .args(["--storage-driver", &self.driver])
            .args(["--log-level", "debug"])
            .arg("--pidfile")
            .arg(self.root.join("rdockerd.pid"))
            .args(["--cgroup-parent", &self.cgroup_parent])
            .env_remove("DOCKER_HOST")
            .env_remove("RDOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn rdockerd");
        self.child = Some(child);
        let sock = self.sock.clone();
        poll("rdockerd to answer GET /_ping", DAEMON_TIMEOUT, || {
            let child = self.child.as_mut().expect("child was just set");
            if let Some(status) = child.try_wait().expect("try_wait rdockerd") {
                panic!(
                    "rdockerd exited ({status}) before answering /_ping; its log:\n{}",
                    self.log_text()
                );
            }
            match http::request(&sock, "GET", "/_ping", None) {
                Ok(r) if r.status == 200 => Some(()),
                _ => None,
            }
        });
    }

    /// SIGTERM and wait: the daemon must exit by itself within the deadline.
    pub fn stop(&mut self) -> ExitStatus {
        let pid = Pid::from_raw(self.pid());
        kill(pid, Signal::SIGTERM).expect("SIGTERM rdockerd");
        // The child stays in `self` while we wait, so a timeout panic still lets Drop kill it.
        let status = poll("rdockerd to exit after SIGTERM", DAEMON_TIMEOUT, || {
            let child = self.child.as_mut().expect("daemon is running");
            child.try_wait().expect("try_wait rdockerd")
        });
        self.child = None;
        assert!(
            status.success(),
            "rdockerd exited with {status} after SIGTERM; its log:\n{}",
            self.log_tail(40)
        );
        status
    }

    /// Stops the daemon cleanly and starts it again on the same roots (no image re-import).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// The daemon's pid (while it runs).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("daemon is running").id() as i32
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The real docker CLI pointed at this daemon, with a private config dir.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let docker = std::env::var_os("RDOCKER_IT_DOCKER").unwrap_or_else(|| "docker".into());
        let mut c = Command::new(docker);
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        cmd::run(self.docker_command(args), None, CMD_TIMEOUT)
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        cmd::run(self.docker_command(args), Some(stdin), CMD_TIMEOUT)
    }

    /// Our own client, with `-H`, no host variables in its environment, and the docker CLI's
    /// private config dir (where both keep registry credentials).
    pub fn rdocker_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(workspace_bin("rdocker"));
        c.arg("-H")
            .arg(self.host())
            .args(args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_HOST")
            .env_remove("RDOCKER_HOST");
        c
    }

    pub fn rdocker(&self, args: &[&str]) -> Output {
        cmd::run(self.rdocker_command(args), None, CMD_TIMEOUT)
    }

    pub fn rdocker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        cmd::run(self.rdocker_command(args), Some(stdin), CMD_TIMEOUT)
    }

    /// One raw HTTP request (JSON body if any) on a new connection.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        http::request(&self.sock, method, path, body.map(str::as_bytes))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `POST /images/create?fromSrc=-` with the tar as the body, as `docker import` does.
    pub fn import(&self, tar: &Path, repo: &str, tag: &str) {
        let body = fs::read(tar).expect("read image tar");
        let path = format!("/images/create?fromSrc=-&repo={repo}&tag={tag}");
        let headers = [
            ("Connection", "close"),
            ("Content-Type", "application/x-tar"),
        ];
        let r = http::request_with(&self.sock, "POST", &path, &headers, &body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert!(
            r.status == 200 && !r.text().contains("errorDetail"),
            "import of {} as {repo}:{tag} failed: {} {}",
            tar.display(),
            r.status,
            r.text()
        );
    }

    /// Images, layer records and graphdriver dirs: what a failed image operation must leave
    /// as it was.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            images: self.image_ids(),
            records: self.layer_records(),
            driver_dirs: self.data_entries(&self.driver),
        }
    }

    /// The names in `<data-root>/<rel>` (none when it does not exist).
    pub fn data_entries(&self, rel: &str) -> BTreeSet<String> {
        match fs::read_dir(self.data_root.join(rel)) {
            Ok(entries) => entries
                .map(|e| {
                    e.expect("read_dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// The layer records (`image/<driver>/layerdb/sha256/<chain id>`), as `sha256:<hex>`.
    pub fn layer_records(&self) -> BTreeSet<String> {
        self.data_entries(&format!("image/{}/layerdb/sha256", self.driver))
            .into_iter()
            .map(|h| format!("sha256:{h}"))
            .collect()
    }

    /// `docker images -aq --no-trunc`: every image id.
    pub fn image_ids(&self) -> BTreeSet<String> {
        let out = self.docker(&["images", "-aq", "--no-trunc"]);
        out.ok("docker images -aq")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `GET /containers/<name>/json`, which must exist.
    pub fn inspect(&self, name: &str) -> Value {
        let r = self.http("GET", &format!("/containers/{name}/json"), None);
        assert_eq!(r.status, 200, "inspect {name}: {}", r.text());
        r.json()
    }

    /// Polls until the container's `State.Status` is `status`; returns the inspect document.
    pub fn wait_status(&self, name: &str, status: &str) -> Value {
        let mut last = Value::Null;
        let what = format!("container {name} to be {status}");
        poll(&what, STATE_TIMEOUT, || {
            last = self.inspect(name);
            (last["State"]["Status"] == status).then(|| last.clone())
        })
    }

    /// `docker run -d ARGS…`; returns the full id the CLI prints.
    pub fn run_detached(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let id = self.docker(&all).ok("docker run -d").trim().to_string();
        assert_full_id(&id);
        id
    }

    /// `docker create ARGS…`; returns the full id.
    pub fn create(&self, args: &[&str]) -> String {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let id = self.docker(&all).ok("docker create").trim().to_string();
        assert_full_id(&id);
        id
    }
}

pub fn assert_full_id(id: &str) {
    assert!(
        id.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "expected a 64-hex container id, got {id:?}"
    );
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- rdockerd log ({}), last lines ---\n{}\n---",
                self.log.display(),
                self.log_tail(60)
            );
        }
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = std::time::Instant::now() + DAEMON_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    eprintln!("cleanup: rdockerd ignored SIGTERM; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        cleanup::kill_leftovers(&self.root, &self.cgroup_parent);
        let unmounted = cleanup::unmount_all(&self.root);
        cleanup::remove_cgroups(&self.cgroup_parent);
        if unmounted {
            if let Err(e) = fs::remove_dir_all(&self.root) {
                eprintln!("cleanup: remove {}: {e}", self.root.display());
            }
        } else {
            eprintln!("cleanup: leaving {} (mounts remain)", self.root.display());
        }
    }
}

/// See [`TestDaemon::snapshot`].
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub images: BTreeSet<String>,
    pub records: BTreeSet<String>,
    pub driver_dirs: BTreeSet<String>,
}
