//! `rdocker info`: `GET /info` in docker's layout (the fields rdocker reports).

use crate::format::bytes_size;
use crate::http::Client;
use crate::template::Template;
use api::system::Info;
use serde_json::Value;

/// `docker info [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json', or a Go template such as '{{.ServerVersion}}')
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

const CLIENT: &str = concat!(
    "Client:\n Version:    ",
    env!("CARGO_PKG_VERSION"),
    "\n Context:    default\n Debug Mode: false\n"
);

fn line_if(out: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!(" {label}: {value}\n"));
    }
}

fn plugins(out: &mut String, info: &Info) {
    out.push_str(" Plugins:\n");
    for kind in ["Volume", "Network", "Authorization", "Log"] {
        let names: Vec<&str> = match info.plugins.get(kind) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if kind != "Authorization" || !names.is_empty() {
            out.push_str(&format!("  {kind}: {}\n", names.join(" ")));
        }
    }
}

/// `name=seccomp,profile=default` → `  seccomp` / `   Profile: default`.
fn security_options(out: &mut String, options: &[String]) {
    if options.is_empty() {
        return;
    }
    out.push_str(" Security Options:\n");
    for opt in options {
        for kv in opt.split(',') {
            match kv.split_once('=') {
                Some(("name", v)) => out.push_str(&format!("  {v}\n")),
                Some(("profile", v)) => out.push_str(&format!("   Profile: {v}\n")),
                Some(_) => {}
                None => out.push_str(&format!("  {kv}\n")),
            }
        }
    }
}

fn server_section(info: &Info) -> String {
    let mut out = format!(
        "Server:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n",
        info.containers,
        info.containers_running,
        info.containers_paused,
        info.containers_stopped,
        info.images
    );
    line_if(&mut out, "Server Version", &info.server_version);
    line_if(&mut out, "Storage Driver", &info.driver);
    for [k, v] in &info.driver_status {
        out.push_str(&format!("  {k}: {v}\n"));
    }
    line_if(&mut out, "Logging Driver", &info.logging_driver);
    line_if(&mut out, "Cgroup Driver", &info.cgroup_driver);
    line_if(&mut out, "Cgroup Version", &info.cgroup_version);
    plugins(&mut out, info);
    if !info.runtimes.is_empty() {
        let names: Vec<&str> = info.runtimes.keys().map(String::as_str).collect();
        out.push_str(&format!(
            " Runtimes: {}\n Default Runtime: {}\n",
            names.join(" "),
            info.default_runtime
        ));
    }
    line_if(&mut out, "Init Binary", &info.init_binary);
    security_options(&mut out, &info.security_options);
    line_if(&mut out, "Kernel Version", &info.kernel_version);
    line_if(&mut out, "Operating System", &info.operating_system);
    line_if(&mut out, "OSType", &info.os_type);
    line_if(&mut out, "Architecture", &info.architecture);
    out.push_str(&format!(
        " CPUs: {}\n Total Memory: {}\n",
        info.ncpu,
        bytes_size(info.mem_total)
    ));
    line_if(&mut out, "Name", &info.name);
    line_if(&mut out, "ID", &info.id);
    out.push_str(&format!(
        " Docker Root Dir: {}\n Debug Mode: {}\n",
        info.docker_root_dir, info.debug
    ));
    if !info.labels.is_empty() {
        out.push_str(" Labels:\n");
        for l in &info.labels {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str(&format!(" Experimental: {}\n", info.experimental_build));
    out.push_str(&format!(
        " Live Restore Enabled: {}\n\n",
        info.live_restore_enabled
    ));
    out
}

/// `rdocker info`: the server's warnings go to stderr, as docker prints them.
pub async fn run(client: &Client, args: InfoArgs) -> anyhow::Result<i32> {
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let info: Value = client.get_json("/info").await?;
        match f {
            "json" => println!("{info}"),
            _ => println!("{}", Template::parse(f)?.render(&info)),
        }
        return Ok(0);
    }
    println!("{CLIENT}");
    let info: Info = client.get_json("/info").await?;
    print!("{}", server_section(&info));
    for w in &info.warnings {
        eprintln!("{w}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_docker() {
        let info = Info {
            containers: 2,
            containers_running: 1,
            containers_stopped: 1,
            images: 1,
            server_version: "0.1.0".into(),
            driver: "overlay2".into(),
            driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: "2".into(),
            ncpu: 2,
            mem_total: 25_275_510_784,
            docker_root_dir: "/var/lib/rdocker".into(),
            security_options: vec!["name=seccomp,profile=default".into()],
            ..Default::default()
        };
        let s = server_section(&info);
        assert!(s.starts_with(
            "Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n"
        ));
        assert!(s.contains(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n"));
        assert!(s.contains(" Cgroup Driver: cgroupfs\n Cgroup Version: 2\n"));
        assert!(s.contains(" Security Options:\n  seccomp\n   Profile: default\n"));
        assert!(s.contains(" CPUs: 2\n Total Memory: 23.54GiB\n"));
        assert!(s.contains(" Docker Root Dir: /var/lib/rdocker\n"));
    }
}
