//! `rdocker version`: the client's versions, then the daemon's (`GET /version`) in docker's
//! layout (tabwriter with minimum width 20, padding 1).

use crate::http::Client;
use crate::template::Template;
use api::system::Version;
use api::API_VERSION;
use serde_json::json;
use std::collections::BTreeMap;

/// `docker version [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json', or a Go template such as '{{.Server.Version}}')
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

/// One `label:<pad>value` line as docker's tabwriter lays it out.
fn kv(indent: &str, label: &str, value: &str) -> String {
    let cell = format!("{indent}{label}:");
    let width = (cell.chars().count() + 1).max(20);
    format!("{cell:<width$}{value}\n")
}

/// docker's GOARCH names.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn client_section(negotiated: &str) -> String {
    let api = if negotiated == API_VERSION {
        negotiated.to_string()
    } else {
        format!("{negotiated} (downgraded from {API_VERSION})")
    };
    let mut out = String::from("Client:\n");
    out += &kv(" ", "Version", env!("CARGO_PKG_VERSION"));
    out += &kv(" ", "API version", &api);
    out += &kv(
        " ",
        "OS/Arch",
        &format!("{}/{}", std::env::consts::OS, go_arch()),
    );
    out += &kv(" ", "Context", "default");
    out
}

/// The Engine's details: from `Components` when the daemon sends them, else the top level.
fn engine_details(v: &Version) -> BTreeMap<String, String> {
    if let Some(engine) = v.components.iter().find(|c| c.name == "Engine") {
        return engine.details.clone();
    }
    [
        ("ApiVersion", &v.api_version),
        ("MinAPIVersion", &v.min_api_version),
        ("GoVersion", &v.go_version),
        ("GitCommit", &v.git_commit),
        ("BuildTime", &v.build_time),
        ("Os", &v.os),
        ("Arch", &v.arch),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect()
}

fn server_section(v: &Version) -> String {
    let d = engine_details(v);
    let get = |k: &str| d.get(k).cloned().unwrap_or_default();
    let platform = if v.platform.name.is_empty() {
        String::new()
    } else {
        format!(" {}", v.platform.name)
    };
    let mut out = format!("\nServer:{platform}\n Engine:\n");
    out += &kv("  ", "Version", &v.version);
    out += &kv(
        "  ",
        "API version",
        &format!(
            "{} (minimum version {})",
            get("ApiVersion"),
            get("MinAPIVersion")
        ),
    );
    for (label, key) in [
        ("Go version", "GoVersion"),
        ("Git commit", "GitCommit"),
        ("Built", "BuildTime"),
    ] {
        if !get(key).is_empty() {
            out += &kv("  ", label, &get(key));
        }
    }
    out += &kv("  ", "OS/Arch", &format!("{}/{}", get("Os"), get("Arch")));
    let experimental = d.get("Experimental").map_or("false", String::as_str);
    out += &kv("  ", "Experimental", experimental);
    for c in v.components.iter().filter(|c| c.name != "Engine") {
        out += &format!(" {}:\n", c.name);
        out += &kv("  ", "Version", &c.version);
        for (k, val) in &c.details {
            out += &kv("  ", k, val);
        }
    }
    out
}

/// `rdocker version`: the client section is printed even when the daemon is unreachable.
pub async fn run(client: &Client, args: VersionArgs) -> anyhow::Result<i32> {
    let versions = client.versions().await.map(|v| v.negotiated.clone());
    let server = match &versions {
        Ok(_) => Some(client.get_json::<Version>("/version").await),
        Err(_) => None,
    };
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let data = json!({
            "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": versions.as_deref().unwrap_or(API_VERSION),
                       "Os": std::env::consts::OS, "Arch": go_arch()},
            "Server": server.as_ref().and_then(|s| s.as_ref().ok()),
        });
        match f {
            "json" => println!("{data}"),
            _ => println!("{}", Template::parse(f)?.render(&data)),
        }
    } else {
        print!(
            "{}",
            client_section(versions.as_deref().unwrap_or(API_VERSION))
        );
    }
    versions?;
    let server = server.expect("fetched when the ping succeeded")?;
    if args.format.as_deref().is_none_or(str::is_empty) {
        print!("{}", server_section(&server));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_align_like_docker() {
        assert_eq!(kv(" ", "Version", "28.2.2"), " Version:           28.2.2\n");
        assert_eq!(
            kv("  ", "API version", "1.41"),
            "  API version:      1.41\n"
        );
    }

    #[test]
    fn server_section_from_top_level_fields() {
        let v = Version {
            version: "0.1.0".into(),
            api_version: "1.41".into(),
            min_api_version: "1.24".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            ..Default::default()
        };
        let s = server_section(&v);
        assert!(s.starts_with("\nServer:\n Engine:\n  Version:          0.1.0\n"));
        assert!(s.contains("  API version:      1.41 (minimum version 1.24)\n"));
        assert!(s.contains("  OS/Arch:          linux/amd64\n"));
    }
}
