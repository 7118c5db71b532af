//! `rdocker create` and the container options it shares with `run`: flags → the create body
//! the docker CLI sends, and `POST /containers/create?name=`.

use super::pull::pull_missing;
use crate::attach::terminal_size;
use crate::http::{query, Client, Error};
use crate::parse::{self, parse_cpus, parse_ram, parse_swap};
use crate::reference::Reference;
use anyhow::Context;
use api::container::{ContainerConfig, CreateRequest, CreateResponse, HostConfig, RestartPolicy};
use clap::ArgAction;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options shared by `run` and `create` (docker's names and help texts).
#[derive(Debug, clap::Args)]
pub struct ContainerOptions {
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes", value_parser = parse_ram)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", value_parser = parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal", value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network
    #[arg(long, value_name = "network")]
    pub network: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", value_parser = parse_ram)]
    pub shm_size: Option<i64>,
    /// The image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub args: Vec<String>,
}

/// `docker create [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerOptions,
}

impl ContainerOptions {
    /// The image the user typed.
    pub fn image(&self) -> &str {
        self.args
            .first()
            .map(String::as_str)
            .expect("clap requires IMAGE")
    }
}

fn client_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Env files first, then `-e` flags, as the docker CLI orders them.
fn collect_env(o: &ContainerOptions) -> anyhow::Result<Vec<String>> {
    let mut env = Vec::new();
    for file in &o.env_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("open {}", file.display()))?;
        env.extend(parse::parse_env_file(&text, &client_env).map_err(anyhow::Error::msg)?);
    }
    env.extend(parse::env_from_flags(&o.env, &client_env));
    Ok(env)
}

/// The `Config` part of the create body: `-i` attaches stdin and closes it when the client
/// disconnects (`StdinOnce`); `-d` attaches nothing.
fn container_config(o: &ContainerOptions, detach: bool) -> anyhow::Result<ContainerConfig> {
    let env = collect_env(o)?;
    let attach = !detach;
    Ok(ContainerConfig {
        hostname: o.hostname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin: attach && o.interactive,
        attach_stdout: attach,
        attach_stderr: attach,
        tty: o.tty,
        open_stdin: o.interactive,
        // docker: "when allocating stdin in attached mode, close stdin at client disconnect".
        stdin_once: attach && o.interactive,
        env: (!env.is_empty()).then_some(env),
        cmd: (o.args.len() > 1).then(|| o.args[1..].to_vec()),
        image: o.image().to_string(),
        volumes: Some(BTreeMap::new()),
        working_dir: o.workdir.clone().unwrap_or_default(),
        // `--entrypoint ""` clears the image's entrypoint: docker sends `[""]`.
        entrypoint: o.entrypoint.clone().map(|e| vec![e]),
        labels: parse::parse_labels(&o.labels),
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        ..Default::default()
    })
}

fn host_config(o: &ContainerOptions, network: &str) -> HostConfig {
    let console = match (o.tty, terminal_size()) {
        (true, Some((rows, cols))) => vec![rows, cols],
        _ => vec![0, 0],
    };
    HostConfig {
        network_mode: network.to_string(),
        port_bindings: Some(json!({})),
        restart_policy: RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        },
        auto_remove: o.rm,
        console_size: Some(console),
        shm_size: o.shm_size.unwrap_or(0),
        cpu_shares: o.cpu_shares.unwrap_or(0),
        memory: o.memory.unwrap_or(0),
        nano_cpus: o.cpus.unwrap_or(0),
        cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
        memory_swap: o.memory_swap.unwrap_or(0),
        memory_swappiness: Some(-1),
        oom_kill_disable: Some(false),
        pids_limit: o.pids_limit,
        ..Default::default()
    }
}

/// The create body the docker CLI would send for these options.
pub fn build_request(o: &ContainerOptions, detach: bool) -> anyhow::Result<CreateRequest> {
    let network = o.network.clone().unwrap_or_else(|| "default".to_string());
    Ok(CreateRequest {
        config: container_config(o, detach)?,
        host_config: host_config(o, &network),
        networking_config: Some(json!({ "EndpointsConfig": { network: {} } })),
    })
}

async fn post_create(client: &Client, req: &CreateRequest, q: &str) -> Result<String, Error> {
    let res = client
        .post_json::<_, CreateResponse>(&format!("/containers/create{q}"), req)
        .await?;
    for w in &res.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(res.id)
}

/// `POST /containers/create[?name=]`; prints the daemon's warnings. When the daemon lacks the
/// image, does what the docker CLI does: "Unable to find image" on stderr, a pull with its
/// progress on stderr, and one more create.
pub async fn create_container(
    client: &Client,
    req: &CreateRequest,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let q = match name {
        Some(n) => query(&[("name", n)]),
        None => String::new(),
    };
    match post_create(client, req, &q).await {
        Err(Error::Daemon {
            status: 404,
            message,
        }) if message.starts_with("No such image") => {
            let image = &req.config.image;
            let Ok(reference) = Reference::parse_normalized(image) else {
                return Err(Error::Daemon {
                    status: 404,
                    message,
                }
                .into());
            };
            eprintln!(
                "Unable to find image '{}' locally",
                reference.with_default_tag().familiar_string()
            );
            pull_missing(client, image).await?;
            Ok(post_create(client, req, &q).await?)
        }
        res => Ok(res?),
    }
}

/// `rdocker create`: prints the new container's id.
pub async fn run(client: &Client, args: CreateArgs) -> anyhow::Result<i32> {
    let o = &args.container;
    let req = build_request(o, false)?;
    let id = create_container(client, &req, o.name.as_deref()).await?;
    println!("{id}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOptions,
    }

    fn body(args: &[&str], detach: bool) -> serde_json::Value {
        let t = T::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .expect("valid flags");
        serde_json::to_value(build_request(&t.o, detach).expect("valid options")).expect("json")
    }

    #[test]
    fn default_body_matches_docker_cli() {
        let b = body(&["busybox", "echo", "hi"], false);
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["echo", "hi"]));
        assert_eq!(b["Env"], json!(null));
        assert_eq!(b["Entrypoint"], json!(null));
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(b["HostConfig"]["MemorySwappiness"], -1);
        assert!(b["NetworkingConfig"]["EndpointsConfig"]["default"].is_object());
    }

    #[test]
    fn flags_map_to_fields() {
        let b = body(
            &[
                "-i",
                "--rm",
                "-m",
                "64m",
                "--cpus",
                "0.5",
                "--entrypoint",
                "",
                "-l",
                "a=b",
                "--network",
                "none",
                "-h",
                "box",
                "--pids-limit",
                "-1",
                "busybox",
                "ls",
                "-l",
            ],
            false,
        );
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["HostConfig"]["NanoCpus"], 500_000_000);
        assert_eq!(b["HostConfig"]["PidsLimit"], -1);
        assert_eq!(b["HostConfig"]["NetworkMode"], "none");
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["Labels"], json!({"a": "b"}));
        assert_eq!(b["Hostname"], "box");
        assert_eq!(b["Cmd"], json!(["ls", "-l"]));
    }

    #[test]
    fn detach_attaches_nothing() {
        let b = body(&["-i", "busybox"], true);
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["StdinOnce"], false);
        assert_eq!(b["OpenStdin"], true);
    }
}
