//! `POST /containers/create`: validate, merge the image's config, make the init and read-write
//! layers and the files under `containers/<id>/`. No process yet.

use super::{names, now_rfc3339, Container, ContainerService, Entry, ZERO_TIME};
use crate::error::{blocking, Result, ServiceError};
use api::container::{ContainerConfig, ContainerState, CreateRequest, CreateResponse, HostConfig};
use graphdriver::LayerId;
use image::{Digest, MountMeta, Reference};
use std::path::Path;
use std::sync::Arc;

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl ContainerService {
    /// Creates a container; `name` is the `?name=` query.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<String>,
        req: CreateRequest,
    ) -> Result<CreateResponse> {
        let mut warnings = Vec::new();
        let host_config = validate_host_config(req.host_config, &mut warnings)?;
        let (image_id, image_cfg, top_cache) = self.resolve_image(&req.config.image)?;
        let config = merge_image_config(req.config, image_cfg)?;
        let id = names::new_id();
        let name = self.reserve_name(name.as_deref(), &id)?;
        let mut c = Container {
            id: id.clone(),
            created: now_rfc3339(),
            path: String::new(),
            args: Vec::new(),
            image: image_id.to_string(),
            name: format!("/{name}"),
            driver: self.graph.name().to_string(),
            mount_id: names::new_id(),
            state: ContainerState {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            host_config,
            config,
            ..Default::default()
        };
        let mut argv = c.config.entrypoint.clone().unwrap_or_default();
        argv.extend(c.config.cmd.clone().unwrap_or_default());
        c.path = argv.first().cloned().unwrap_or_default();
        c.args = argv.into_iter().skip(1).collect();
        if c.config.hostname.is_empty() {
            c.config.hostname = if c.host_config.network_mode == "host" {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                id[..12].to_string()
            };
        }
        let svc = self.clone();
        let top = top_cache.clone();
        let t0 = std::time::Instant::now();
        let made = blocking(move || svc.make_layers_and_files(&c, top.as_deref()).map(|_| c)).await;
        match made {
            Ok(c) => {
                tracing::info!(
                    container_id = %id,
                    image = %c.config.image,
                    elapsed_us = t0.elapsed().as_micros() as u64,
                    "container created"
                );
                self.table().by_id.insert(id.clone(), Entry::new(c));
                Ok(CreateResponse { id, warnings })
            }
            Err(e) => {
                self.table().names.remove(&name);
                Err(e)
            }
        }
    }

    fn resolve_image(
        &self,
        name: &str,
    ) -> Result<(Digest, Option<serde_json::Value>, Option<String>)> {
        if name.is_empty() {
            return Err(ServiceError::invalid("No image specified"));
        }
        let id = self.images.resolve(name).map_err(|e| match e {
            image::Error::ImageNotFound(_) => {
                let shown = Reference::parse(name)
                    .map(|r| r.key())
                    .unwrap_or_else(|_| name.to_string());
                ServiceError::not_found(format!("No such image: {shown}"))
            }
            other => other.into(),
        })?;
        let cfg = self.images.get(&id)?;
        let top = match cfg.chain_ids().last() {
            Some(chain) => Some(
                self.images
                    .layer(chain)
                    .ok_or_else(|| {
                        ServiceError::internal(format!("layer {chain} of image {id} is missing"))
                    })?
                    .cache_id,
            ),
            None => None,
        };
        Ok((id, cfg.config, top))
    }

    /// Claims a name (given or generated) for `id`; released again if creation fails.
    fn reserve_name(&self, wanted: Option<&str>, id: &str) -> Result<String> {
        let mut t = self.table();
        let name = match wanted.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n)?,
            None => names::generate(|n| t.names.contains_key(n)),
        };
        if let Some(owner) = t.names.get(&name) {
            return Err(ServiceError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". \
                 You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        t.names.insert(name.clone(), id.to_string());
        Ok(name)
    }

    /// Blocking: the init layer (with its placeholder files), the read-write layer, the layerdb
    /// mount record and the container's directory. Undoes what it did on failure.
    fn make_layers_and_files(&self, c: &Container, image_top: Option<&str>) -> Result<()> {
        let result = self.try_make_layers_and_files(c, image_top);
        if result.is_err() {
            self.discard_layers_and_files(c);
        }
        result
    }

    fn try_make_layers_and_files(&self, c: &Container, image_top: Option<&str>) -> Result<()> {
        let rw: LayerId = layer_id(&c.mount_id)?;
        let init = self.init_layer(&c.mount_id, image_top)?;
        self.graph.create_rw(&rw, Some(&init))?;
        let parent_chain = self
            .images
            .get(&c.image.parse()?)?
            .chain_ids()
            .last()
            .cloned();
        self.images.put_mount(MountMeta {
            container_id: c.id.clone(),
            mount_id: c.mount_id.clone(),
            init_id: init.to_string(),
            parent: parent_chain,
        })?;
        let dir = self.paths.container_dir(&c.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ServiceError::from_err("creating container dir", &e))?;
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{}\n",
            c.config.hostname
        );
        for (file, content) in [
            ("hostname", format!("{}\n", c.config.hostname)),
            ("hosts", hosts),
            ("resolv.conf", resolv_conf()),
        ] {
            std::fs::write(dir.join(file), content)
                .map_err(|e| ServiceError::from_err("writing container files", &e))?;
        }
        self.write_new_record(c)
    }

    /// The init layer a new container's read-write layer sits on. Its contents, empty
    /// placeholders for what the runtime mounts over (`/etc/hosts`, `/dev/console`, ...), are
    /// the same for every container, so the containers of an image share one,
    /// `<image top layer>-init`, made by the first of them and removed with that image layer
    /// ([`crate::image::gc_layers`]); that saves a layer's worth of directories and files on
    /// every create and remove. An image without layers gets one per container,
    /// `<mount id>-init`, as dockerd makes for all.
    fn init_layer(&self, mount_id: &str, image_top: Option<&str>) -> Result<LayerId> {
        let write = |init: &LayerId| -> Result<()> {
            write_init_layer(&self.graph.diff_dir(init)?)
                .map_err(|e| ServiceError::from_err("writing init layer", &e))
        };
        let Some(top) = image_top else {
            let init = layer_id(&format!("{mount_id}-init"))?;
            self.graph.create(&init, None)?;
            write(&init)?;
            return Ok(init);
        };
        let init = shared_init_layer(top)?;
        let _made_once = self
            .init_layers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.graph.exists(&init) {
            self.graph.create(&init, Some(&layer_id(top)?))?;
        }
        // Finished unless a crash cut its making short; never rewritten once complete (other
        // containers may have it mounted as a lower layer).
        if !init_layer_complete(&self.graph.diff_dir(&init)?) {
            write(&init)?;
        }
        Ok(init)
    }

    /// Best-effort removal of everything create makes (also used by remove).
    pub(super) fn discard_layers_and_files(&self, c: &Container) {
        for id in [c.mount_id.clone(), format!("{}-init", c.mount_id)] {
            if let Ok(l) = id.parse::<LayerId>() {
                if self.graph.exists(&l) {
                    if let Err(e) = self.graph.remove(&l) {
                        tracing::warn!(container_id = %c.id, layer = %l, error = %e, "removing layer failed");
                    }
                }
            }
        }
        if let Err(e) = self.images.remove_mount(&c.id) {
            tracing::warn!(container_id = %c.id, error = %e, "removing layer record failed");
        }
        let _ = std::fs::remove_dir_all(self.paths.container_dir(&c.id));
    }
}

pub(super) fn layer_id(s: &str) -> Result<LayerId> {
    s.parse()
        .map_err(|e: graphdriver::Error| ServiceError::from_err("layer id", &e))
}

/// The init layer shared by the containers of an image whose top layer is `top` (a cache id).
pub fn shared_init_layer(top: &str) -> Result<LayerId> {
    layer_id(&format!("{top}-init"))
}

/// `etc/mtab` is the last entry [`write_init_layer`] makes.
fn init_layer_complete(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join("etc/mtab")).is_ok()
}

/// Docker's init layer: mount points and placeholders the engine bind-mounts over.
fn write_init_layer(root: &Path) -> std::io::Result<()> {
    for d in ["dev/pts", "dev/shm", "proc", "sys", "etc"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    for f in [
        ".dockerenv",
        "etc/resolv.conf",
        "etc/hosts",
        "etc/hostname",
        "dev/console",
    ] {
        std::fs::File::create(root.join(f))?;
    }
    let mtab = root.join("etc/mtab");
    if std::fs::symlink_metadata(&mtab).is_err() {
        std::os::unix::fs::symlink("/proc/mounts", mtab)?;
    }
    Ok(())
}

/// The host's resolv.conf without loopback nameservers (unreachable from a container), falling
/// back to public resolvers as Docker does when none remain.
fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Docker's HostConfig checks, with its messages. Modes rdocker cannot honour yet fall back with a
/// warning (the docker CLI prints warnings from the create answer).
fn validate_host_config(mut hc: HostConfig, warnings: &mut Vec<String>) -> Result<HostConfig> {
    if hc.memory > 0 && hc.memory < MIN_MEMORY {
        return Err(ServiceError::invalid("Minimum memory limit allowed is 6MB"));
    }
    if hc.memory > 0 && hc.memory_swap > 0 && hc.memory_swap < hc.memory {
        return Err(ServiceError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if hc.memory_swap > 0 && hc.memory == 0 {
        return Err(ServiceError::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if hc.nano_cpus > 0 && (hc.cpu_quota > 0 || hc.cpu_period > 0) {
        return Err(ServiceError::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if hc.nano_cpus != 0 {
        // Reads the cgroup's CPU quota and affinity: only when there is something to check.
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        if hc.nano_cpus < 0 || hc.nano_cpus > ncpu * 1_000_000_000 {
            return Err(ServiceError::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    if hc.pids_limit.is_some_and(|p| p < 0) {
        hc.pids_limit = None;
    }
    // The daemon's log driver, as dockerd fills it in (SDKs read it to decide whether the
    // container's output can be read back with `logs`).
    if hc.log_config.kind.is_empty() {
        hc.log_config.kind = "json-file".into();
    }
    match hc.network_mode.as_str() {
        "none" | "host" => {}
        "" | "default" | "bridge" => {
            warnings.push(
                "rdocker: bridge networking is not available yet; the container gets its own network namespace with only loopback (as --network none)".into(),
            );
            hc.network_mode = if hc.network_mode.is_empty() {
                "default".into()
            } else {
                hc.network_mode
            };
        }
        m if m.starts_with("container:") => {
            return Err(ServiceError::invalid(format!(
                "network mode {m} is not supported by rdocker yet"
            )))
        }
        m => return Err(ServiceError::not_found(format!("network {m} not found"))),
    }
    match hc.restart_policy.name.as_str() {
        "" | "no" => {}
        "always" | "unless-stopped" | "on-failure" => warnings.push(format!(
            "rdocker: restart policy {:?} is not applied yet",
            hc.restart_policy.name
        )),
        other => {
            return Err(ServiceError::invalid(format!(
                "invalid restart policy '{other}'"
            )))
        }
    }
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return Err(ServiceError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(hc)
}

/// Fills what the user left empty from the image's config, as Docker's `merge` does.
fn merge_image_config(
    mut user: ContainerConfig,
    image: Option<serde_json::Value>,
) -> Result<ContainerConfig> {
    let img: ContainerConfig = match image {
        Some(v) if !v.is_null() => serde_json::from_value(v)
            .map_err(|e| ServiceError::internal(format!("image config is malformed: {e}")))?,
        _ => ContainerConfig::default(),
    };
    if user.user.is_empty() {
        user.user = img.user;
    }
    let mut env = user.env.take().unwrap_or_default();
    for kv in img.env.unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("");
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(kv);
        }
    }
    user.env = if env.is_empty() { None } else { Some(env) };
    for (k, v) in img.labels {
        user.labels.entry(k).or_insert(v);
    }
    if user.entrypoint.as_deref() == Some(&[String::new()]) {
        user.entrypoint = None; // `--entrypoint ""` clears the image's entrypoint
    } else if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = img.cmd;
        }
        user.entrypoint = img.entrypoint;
    }
    if user.working_dir.is_empty() {
        user.working_dir = img.working_dir;
    }
    if user.stop_signal.is_none() {
        user.stop_signal = img.stop_signal;
    }
    if user.exposed_ports.is_none() {
        user.exposed_ports = img.exposed_ports;
    }
    if user.volumes.is_none() {
        user.volumes = img.volumes;
    }
    let empty = |v: &Option<Vec<String>>| v.as_ref().is_none_or(|v| v.is_empty());
    if empty(&user.entrypoint) && empty(&user.cmd) {
        return Err(ServiceError::invalid("No command specified"));
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn image_cmd_used_only_without_user_cmd_or_entrypoint() {
        let img = json!({"Cmd": ["sh"], "Entrypoint": ["/init"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/w"});
        let m = merge_image_config(
            cfg(json!({"Image": "x", "Env": ["A=2"]})),
            Some(img.clone()),
        )
        .unwrap();
        assert_eq!(m.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(m.entrypoint, Some(vec!["/init".to_string()]));
        assert_eq!(
            m.env,
            Some(vec!["A=2".to_string(), "PATH=/bin".to_string()])
        );
        assert_eq!(m.working_dir, "/w");
        let m = merge_image_config(
            cfg(json!({"Image": "x", "Entrypoint": ["ls"]})),
            Some(img.clone()),
        )
        .unwrap();
        assert_eq!((m.entrypoint, m.cmd), (Some(vec!["ls".to_string()]), None));
        let m = merge_image_config(
            cfg(json!({"Image": "x", "Entrypoint": [""], "Cmd": ["id"]})),
            Some(img),
        )
        .unwrap();
        assert_eq!((m.entrypoint, m.cmd), (None, Some(vec!["id".to_string()])));
    }

    #[test]
    fn no_command_is_an_error() {
        let e = merge_image_config(cfg(json!({"Image": "x"})), None).unwrap_err();
        assert_eq!(e.message(), "No command specified");
    }

    #[test]
    fn memory_limits_are_checked() {
        let hc = |v: serde_json::Value| serde_json::from_value::<HostConfig>(v).unwrap();
        let mut w = vec![];
        assert!(validate_host_config(hc(json!({"Memory": 1024})), &mut w).is_err());
        assert!(validate_host_config(
            hc(json!({"Memory": 67108864, "NetworkMode": "none"})),
            &mut w
        )
        .is_ok());
        assert!(validate_host_config(hc(json!({"NetworkMode": "nosuchnet"})), &mut w).is_err());
        assert!(w.is_empty());
        validate_host_config(hc(json!({"NetworkMode": "default"})), &mut w).unwrap();
        assert_eq!(w.len(), 1);
    }
}
