//! `rdocker system df`: `GET /system/df` as docker's summary table (`TYPE  TOTAL  ACTIVE
//! SIZE  RECLAIMABLE`), or with `-v` the per-object tables.

use super::ps::{self, print_with_format};
use crate::format::{ago, human_size, human_size_4, short_id, Table};
use crate::http::Client;
use crate::reference::Reference;
use api::container::ContainerSummary;
use api::image::ImageSummary;
use api::system::DiskUsage;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `docker system df [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct DfArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go
    /// template)
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

const SUMMARY_TABLE: &str = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

/// `12B (100%)`, or just the size when there is nothing in use at all.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size_4(reclaimable),
            reclaimable * 100 / total
        )
    } else {
        human_size_4(reclaimable)
    }
}

fn row(kind: &str, total: usize, active: usize, size: i64, reclaim: String) -> Value {
    json!({
        "Type": kind,
        "TotalCount": total.to_string(),
        "Active": active.to_string(),
        "Size": human_size_4(size),
        "Reclaimable": reclaim,
    })
}

fn is_active(c: &ContainerSummary) -> bool {
    ["running", "paused", "restarting"]
        .iter()
        .any(|s| c.state.contains(s))
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

/// The build cache's size: what is not shared.
fn builder_size(du: &DiskUsage) -> i64 {
    du.build_cache
        .iter()
        .filter(|b| !b["Shared"].as_bool().unwrap_or(false))
        .map(|b| int(b, "Size"))
        .sum()
}

/// docker's four summary rows.
fn summary(du: &DiskUsage) -> Vec<Value> {
    let images = &du.images;
    let used: i64 = images
        .iter()
        .filter(|i| i.containers != 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let active_images = images.iter().filter(|i| i.containers > 0).count();
    let image_row = row(
        "Images",
        images.len(),
        active_images,
        du.layers_size,
        reclaimable(du.layers_size - used, du.layers_size),
    );

    let cs = &du.containers;
    let rw = |c: &ContainerSummary| c.size_rw.unwrap_or(0);
    let total: i64 = cs.iter().map(rw).sum();
    let idle: i64 = cs.iter().filter(|c| !is_active(c)).map(rw).sum();
    let container_row = row(
        "Containers",
        cs.len(),
        cs.iter().filter(|c| is_active(c)).count(),
        total,
        reclaimable(idle, total),
    );

    let vs: Vec<(i64, i64)> = du
        .volumes
        .iter()
        .map(|v| {
            (
                int(&v["UsageData"], "Size"),
                int(&v["UsageData"], "RefCount"),
            )
        })
        .collect();
    let sized = vs.iter().filter(|(s, _)| *s != -1);
    let vol_total: i64 = sized.clone().map(|(s, _)| s).sum();
    let vol_idle: i64 = sized.filter(|(_, r)| *r == 0).map(|(s, _)| s).sum();
    let volume_row = row(
        "Local Volumes",
        vs.len(),
        vs.iter().filter(|(_, r)| *r > 0).count(),
        vol_total,
        reclaimable(vol_idle, vol_total),
    );

    let bc = &du.build_cache;
    let in_use = |b: &&Value| b["InUse"].as_bool().unwrap_or(false);
    let shared = |b: &&Value| b["Shared"].as_bool().unwrap_or(false);
    let in_use_bytes: i64 = bc
        .iter()
        .filter(|b| in_use(b) && !shared(b))
        .map(|b| int(b, "Size"))
        .sum();
    let build_row = row(
        "Build Cache",
        bc.len(),
        bc.iter().filter(in_use).count(),
        builder_size(du),
        human_size_4(builder_size(du) - in_use_bytes),
    );
    vec![image_row, container_row, volume_row, build_row]
}

fn summary_headers() -> Value {
    json!({
        "Type": "TYPE",
        "TotalCount": "TOTAL",
        "Active": "ACTIVE",
        "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    })
}

/// Repository and tag of the verbose image table: the first tag, `<none>` when untagged.
fn repo_tag(i: &ImageSummary) -> (String, String) {
    let none = || ("<none>".to_string(), "<none>".to_string());
    let Some(first) = i.repo_tags.first().filter(|t| *t != "<none>:<none>") else {
        return none();
    };
    match Reference::parse_normalized(first) {
        Ok(r) if r.tag.is_some() => (r.familiar_name(), r.tag.unwrap_or_default()),
        _ => none(),
    }
}

fn na_or(v: i64, f: impl Fn(i64) -> String) -> String {
    if v == -1 {
        "N/A".into()
    } else {
        f(v)
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::docker();
    t.row(headers.iter().copied());
    for r in rows {
        t.row(r);
    }
    t.render()
}

fn since(rfc3339: &str, now: DateTime<Utc>) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| ago(t.timestamp(), now))
        .unwrap_or_default()
}

/// `-v`: the images, containers, volumes and build cache tables.
fn verbose(du: &DiskUsage, now: DateTime<Utc>) -> String {
    let images = du
        .images
        .iter()
        .map(|i| {
            let (repo, tag) = repo_tag(i);
            vec![
                repo,
                tag,
                short_id(&i.id),
                ago(i.created, now),
                human_size(i.size),
                na_or(i.shared_size, human_size),
                na_or(i.shared_size, |s| human_size_4(i.size - s)),
                na_or(i.containers, |c| c.to_string()),
            ]
        })
        .collect();
    let containers = du
        .containers
        .iter()
        .map(|c| {
            let f = ps::fields(c, &c.status, true, now);
            let cell = |k: &str| f[k].as_str().unwrap_or("").to_string();
            let volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
            vec![
                cell("ID"),
                cell("Image"),
                cell("Command"),
                volumes.to_string(),
                human_size(c.size_rw.unwrap_or(0)),
                cell("RunningFor"),
                cell("Status"),
                cell("Names"),
            ]
        })
        .collect();
    let volumes = du
        .volumes
        .iter()
        .map(|v| {
            let usage = &v["UsageData"];
            vec![
                v["Name"].as_str().unwrap_or("").to_string(),
                na_or(int(usage, "RefCount"), |r| r.to_string()),
                na_or(int(usage, "Size"), human_size),
            ]
        })
        .collect();
    let cache = du
        .build_cache
        .iter()
        .map(|b| {
            let mut id = short_id(b["ID"].as_str().unwrap_or(""));
            if b["InUse"].as_bool().unwrap_or(false) {
                id.push('*');
            }
            vec![
                id,
                b["Type"].as_str().unwrap_or("").to_string(),
                human_size(int(b, "Size")),
                since(b["CreatedAt"].as_str().unwrap_or(""), now),
                since(b["LastUsedAt"].as_str().unwrap_or(""), now),
                int(b, "UsageCount").to_string(),
                b["Shared"].as_bool().unwrap_or(false).to_string(),
            ]
        })
        .collect();
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&table(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        images,
    ));
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        containers,
    ));
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&table(&["VOLUME NAME", "LINKS", "SIZE"], volumes));
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size_4(builder_size(du))
    ));
    out.push_str(&table(
        &[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED",
        ],
        cache,
    ));
    out
}

/// `rdocker system df`.
pub async fn run(client: &Client, args: DfArgs) -> anyhow::Result<i32> {
    let mut raw: Value = client.get_json("/system/df").await?;
    // Go daemons send `null` for empty lists.
    for key in ["Images", "Containers", "Volumes", "BuildCache"] {
        if raw[key].is_null() {
            raw[key] = json!([]);
        }
    }
    let du: DiskUsage = serde_json::from_value(raw).map_err(crate::http::Error::Decode)?;
    if args.verbose {
        print!("{}", verbose(&du, Utc::now()));
        return Ok(0);
    }
    let format = args.format.as_deref().unwrap_or("");
    print_with_format(format, SUMMARY_TABLE, &summary_headers(), &summary(&du))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    fn usage() -> DiskUsage {
        serde_json::from_value(json!({
            "LayersSize": 4261550,
            "Images": [{"Id": "sha256:af8276b4ffb00db8c3f81fea3c55fdaf", "ParentId": "",
                        "RepoTags": ["busybox:latest"], "RepoDigests": [], "Created": 1600000000,
                        "Size": 4261550, "SharedSize": 0, "VirtualSize": 4261550,
                        "Labels": null, "Containers": 1}],
            "Containers": [{"Id": "bcffa0d91e47f4d5853775b1b5ff7d57", "Names": ["/xx"],
                            "Image": "busybox", "ImageID": "sha256:af8276b4ffb00db8c3f81fea3c55fdaf",
                            "Command": "sleep 100", "Created": 1700000000, "SizeRw": 12,
                            "SizeRootFs": 4261562, "State": "exited",
                            "Status": "Exited (0) 2 hours ago", "Mounts": []}],
            "Volumes": [],
            "BuildCache": []
        }))
        .expect("valid df answer")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn summary_matches_docker() {
        let t = Template::parse(SUMMARY_TABLE).expect("valid");
        let mut table = Table::docker();
        for r in std::iter::once(summary_headers()).chain(summary(&usage())) {
            table.row(t.render(&r).split('\t').map(str::to_string));
        }
        // docker 28.2.2's output for the same answer.
        assert_eq!(
            table.render(),
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          1         1         4.262MB   0B (0%)\n\
             Containers      1         0         12B       12B (100%)\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
    }

    #[test]
    fn percentages_round_down() {
        assert_eq!(reclaimable(1, 3), "1B (33%)");
        assert_eq!(reclaimable(2_000_000, 3_000_000), "2MB (66%)");
        assert_eq!(reclaimable(0, 0), "0B");
        let mut du = usage();
        du.images[0].containers = 0;
        du.volumes = vec![
            json!({"Name": "a", "UsageData": {"Size": 300, "RefCount": 0}}),
            json!({"Name": "b", "UsageData": {"Size": 100, "RefCount": 2}}),
            json!({"Name": "c", "UsageData": {"Size": -1, "RefCount": -1}}),
        ];
        let rows = summary(&du);
        assert_eq!(rows[0]["Reclaimable"], "4.262MB (100%)");
        assert_eq!(rows[2]["TotalCount"], "3");
        assert_eq!(rows[2]["Active"], "1");
        assert_eq!(rows[2]["Size"], "400B");
        assert_eq!(rows[2]["Reclaimable"], "300B (75%)");
    }

    #[test]
    fn verbose_matches_docker() {
        assert_eq!(
            verbose(&usage(), now()),
            "Images space usage:\n\n\
             REPOSITORY   TAG       IMAGE ID       CREATED       SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\n\
             busybox      latest    af8276b4ffb0   6 years ago   4.26MB    0B            4.262MB       1\n\
             \nContainers space usage:\n\n\
             CONTAINER ID   IMAGE     COMMAND       LOCAL VOLUMES   SIZE      CREATED       STATUS                   NAMES\n\
             bcffa0d91e47   busybox   \"sleep 100\"   0               12B       3 years ago   Exited (0) 2 hours ago   xx\n\
             \nLocal Volumes space usage:\n\n\
             VOLUME NAME   LINKS     SIZE\n\
             \nBuild cache usage: 0B\n\n\
             CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
        );
    }
}
