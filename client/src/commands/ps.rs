//! `rdocker ps`: `GET /containers/json` shown as docker's table (or `-q`, or `--format`).

use crate::format::{self, ago, human_size, ps_command, short_id, Table};
use crate::http::{query, Client};
use crate::parse::parse_filters;
use crate::template::Template;
use api::container::{ContainerInspect, ContainerSummary};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `docker ps [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json', or a Go template such as '{{.Names}}')
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

fn list_query(args: &PsArgs) -> anyhow::Result<String> {
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    let mut q = Vec::new();
    // The daemon shows every state when a limit is given; say so for daemons that don't.
    if args.all || limit > 0 {
        q.push(("all", "1".to_string()));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if args.size {
        q.push(("size", "1".to_string()));
    }
    let filters = parse_filters(&args.filter).map_err(anyhow::Error::msg)?;
    if !filters.is_empty() {
        q.push(("filters", filters.to_query()));
    }
    Ok(query(&q))
}

/// docker's `DisplayablePorts`, without range folding: `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports(ports: &[Value]) -> String {
    let mut out: Vec<String> = ports
        .iter()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let kind = p["Type"].as_str().unwrap_or("tcp");
            match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) if ip.contains(':') => {
                    format!("[{ip}]:{public}->{private}/{kind}")
                }
                (Some(ip), Some(public)) => format!("{ip}:{public}->{private}/{kind}"),
                _ => format!("{private}/{kind}"),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out.join(", ")
}

fn names(c: &ContainerSummary, trunc: bool) -> String {
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .collect();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
    }
    names.join(",")
}

fn image(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return c.image.clone();
    }
    if short_id(&c.image_id) == short_id(&c.image) {
        return short_id(&c.image);
    }
    c.image.split('@').next().unwrap_or(&c.image).to_string()
}

fn size(c: &ContainerSummary) -> String {
    let rw = human_size(c.size_rw.unwrap_or(0));
    match c.size_root_fs {
        Some(v) if v > 0 => format!("{rw} (virtual {})", human_size(v)),
        _ => rw,
    }
}

/// Go's `time.Time.String()` in UTC, docker's `CreatedAt`.
fn created_at(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// The fields docker's `ps --format` knows, as a template's data.
pub fn fields(c: &ContainerSummary, status: &str, trunc: bool, now: DateTime<Utc>) -> Value {
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": if trunc { short_id(&c.id) } else { c.id.clone() },
        "Image": image(c, trunc),
        "Command": ps_command(&c.command, trunc),
        "CreatedAt": created_at(c.created),
        "RunningFor": ago(c.created, now),
        "Ports": ports(&c.ports),
        "State": c.state,
        "Status": status,
        "Size": size(c),
        "Names": names(c, trunc),
        "Labels": labels.join(","),
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
    })
}

/// The server's `Status`, or one computed from inspect for a daemon that leaves it empty.
async fn status(client: &Client, c: &ContainerSummary, now: DateTime<Utc>) -> String {
    if !c.status.is_empty() {
        return c.status.clone();
    }
    match client
        .get_json::<ContainerInspect>(&format!("/containers/{}/json", c.id))
        .await
    {
        Ok(i) => format::state_status(&i.state, now),
        Err(_) => c.state.clone(),
    }
}

const COLUMNS: [(&str, &str); 7] = [
    ("CONTAINER ID", "ID"),
    ("IMAGE", "Image"),
    ("COMMAND", "Command"),
    ("CREATED", "RunningFor"),
    ("STATUS", "Status"),
    ("PORTS", "Ports"),
    ("NAMES", "Names"),
];

/// `rdocker ps`.
pub async fn run(client: &Client, args: PsArgs) -> anyhow::Result<i32> {
    let mut list: Vec<ContainerSummary> = client
        .get_json(&format!("/containers/json{}", list_query(&args)?))
        .await?;
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    if limit > 0 {
        list.truncate(limit as usize);
    }
    let trunc = !args.no_trunc;
    if args.quiet {
        for c in &list {
            println!("{}", if trunc { short_id(&c.id) } else { c.id.clone() });
        }
        return Ok(0);
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    for c in &list {
        rows.push(fields(c, &status(client, c, now).await, trunc, now));
    }
    if let Some(f) = args
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "table")
    {
        print_formatted(f, &rows)?;
        return Ok(0);
    }
    let mut columns: Vec<(&str, &str)> = COLUMNS.to_vec();
    if args.size {
        columns.push(("SIZE", "Size"));
    }
    print!("{}", Table::of_columns(&columns, &rows));
    Ok(0)
}

/// `--format json` (one JSON object a line) or a Go template per row.
pub fn print_formatted(format: &str, rows: &[Value]) -> anyhow::Result<()> {
    if format == "json" {
        for r in rows {
            // Go's encoding/json escapes these for HTML safety; they only occur in strings.
            let text = r.to_string();
            println!(
                "{}",
                text.replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026")
            );
        }
        return Ok(());
    }
    let t = Template::parse(format)?;
    for r in rows {
        println!("{}", t.render(r));
    }
    Ok(())
}

/// docker's `--format` for the listing verbs: `table` (the default columns) or `table
/// TEMPLATE` lay out `headers` and the rows like the tabwriter, `json` prints one object a
/// line, anything else is a template per row. `\t` and `\n` typed in the format are tabs
/// and line ends, as in docker's formatter.
pub fn print_with_format(
    format: &str,
    default_table: &str,
    headers: &Value,
    rows: &[Value],
) -> anyhow::Result<()> {
    let format = if format.is_empty() { "table" } else { format };
    let format = format.replace("\\t", "\t").replace("\\n", "\n");
    let Some(table_format) = format.strip_prefix("table") else {
        return print_formatted(format.trim_matches(' '), rows);
    };
    let table_format = match table_format.trim_matches(' ') {
        "" => default_table,
        t => t,
    };
    let t = Template::parse(table_format)?;
    let mut table = Table::docker();
    for data in std::iter::once(headers).chain(rows) {
        table.row(t.render(data).split('\t').map(str::to_string));
    }
    print!("{}", table.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_docker() {
        let c = ContainerSummary {
            id: "bcffa0d91e47f4d5853775b1b5ff7d57".into(),
            names: vec!["/xx".into()],
            image: "busybox".into(),
            image_id: "sha256:af8276b4ffb00db8c3f81fea3c55fdaf".into(),
            command: "sleep 100".into(),
            size_rw: Some(0),
            size_root_fs: Some(4_261_550),
            ports: vec![
                json!({"PrivatePort": 80, "Type": "tcp"}),
                json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            ],
            ..Default::default()
        };
        let now = Utc::now();
        let f = fields(&c, "Up 1 second", true, now);
        assert_eq!(f["ID"], "bcffa0d91e47");
        assert_eq!(f["Names"], "xx");
        assert_eq!(f["Command"], "\"sleep 100\"");
        assert_eq!(f["Size"], "0B (virtual 4.26MB)");
        assert_eq!(f["Ports"], "0.0.0.0:8080->80/tcp, 80/tcp");
        let by_id = ContainerSummary {
            image: "sha256:af8276b4ffb00db8".into(),
            ..c.clone()
        };
        assert_eq!(image(&by_id, true), "af8276b4ffb0");
    }

    #[test]
    fn query_encodes_options() {
        let args = PsArgs {
            all: false,
            filter: vec!["status=exited".into()],
            format: None,
            last: -1,
            latest: true,
            no_trunc: false,
            quiet: false,
            size: true,
        };
        let q = list_query(&args).expect("valid");
        assert_eq!(
            q,
            "?all=1&limit=1&size=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D"
        );
    }
}
