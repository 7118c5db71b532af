//! `rdocker images`: `GET /images/json` shown as docker's table, one row per repository tag.

use super::ps::print_formatted;
use crate::format::{ago, human_size, short_id, Table};
use crate::http::{query, Client};
use crate::parse::{parse_filters, split_reference};
use api::image::ImageSummary;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `docker images [OPTIONS] [REPOSITORY[:TAG]]`
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json', or a Go template such as '{{.ID}}')
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// One displayed row: repository, tag and digest of an image.
#[derive(Debug, PartialEq)]
struct Row<'a> {
    repo: String,
    tag: String,
    digest: String,
    image: &'a ImageSummary,
}

/// docker's image formatter: a row per tag (per digest with `--digests`), rows for digests
/// of untagged repositories, and `<none>:<none>` for an image with neither.
fn rows(img: &ImageSummary, show_digests: bool) -> Vec<Row<'_>> {
    let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut digests: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in img.repo_tags.iter().filter(|t| *t != "<none>:<none>") {
        if let (repo, Some(tag)) = split_reference(t) {
            tags.entry(repo).or_default().push(tag);
        }
    }
    for d in img.repo_digests.iter().filter(|d| *d != "<none>@<none>") {
        if let Some((repo, digest)) = d.split_once('@') {
            digests.entry(repo).or_default().push(digest);
        }
    }
    let row = |repo: &str, tag: &str, digest: &str| Row {
        repo: repo.into(),
        tag: tag.into(),
        digest: digest.into(),
        image: img,
    };
    let mut out = Vec::new();
    for (repo, repo_tags) in &tags {
        let ds = digests
            .remove(repo)
            .filter(|_| show_digests)
            .unwrap_or_default();
        for tag in repo_tags {
            if ds.is_empty() {
                out.push(row(repo, tag, "<none>"));
            }
            out.extend(ds.iter().map(|d| row(repo, tag, d)));
        }
    }
    for (repo, ds) in &digests {
        if show_digests {
            out.extend(ds.iter().map(|d| row(repo, "<none>", d)));
        } else {
            out.push(row(repo, "<none>", "<none>"));
        }
    }
    if out.is_empty() {
        out.push(row("<none>", "<none>", "<none>"));
    }
    out
}

fn fields(r: &Row<'_>, trunc: bool, now: DateTime<Utc>) -> Value {
    json!({
        "Repository": r.repo,
        "Tag": r.tag,
        "Digest": r.digest,
        "ID": if trunc { short_id(&r.image.id) } else { r.image.id.clone() },
        "CreatedSince": ago(r.image.created, now),
        "Size": human_size(r.image.size),
    })
}

fn list_query(args: &ImagesArgs) -> anyhow::Result<String> {
    let mut filters = parse_filters(&args.filter).map_err(anyhow::Error::msg)?;
    if let Some(r) = &args.reference {
        filters.add("reference", r);
    }
    let mut q = Vec::new();
    if args.all {
        q.push(("all", "1".to_string()));
    }
    if !filters.is_empty() {
        q.push(("filters", filters.to_query()));
    }
    Ok(query(&q))
}

/// `rdocker images`.
pub async fn run(client: &Client, args: ImagesArgs) -> anyhow::Result<i32> {
    let images: Vec<ImageSummary> = client
        .get_json(&format!("/images/json{}", list_query(&args)?))
        .await?;
    let now = Utc::now();
    let trunc = !args.no_trunc;
    let all_rows: Vec<Value> = images
        .iter()
        .flat_map(|img| rows(img, args.digests))
        .map(|r| fields(&r, trunc, now))
        .collect();
    if args.quiet {
        for r in &all_rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    if let Some(f) = args
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "table")
    {
        print_formatted(f, &all_rows)?;
        return Ok(0);
    }
    let mut columns = vec![("REPOSITORY", "Repository"), ("TAG", "Tag")];
    if args.digests {
        columns.push(("DIGEST", "Digest"));
    }
    columns.extend([
        ("IMAGE ID", "ID"),
        ("CREATED", "CreatedSince"),
        ("SIZE", "Size"),
    ]);
    print!("{}", Table::of_columns(&columns, &all_rows));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(img: &ImageSummary, digests: bool) -> Vec<(String, String, String)> {
        rows(img, digests)
            .into_iter()
            .map(|r| (r.repo, r.tag, r.digest))
            .collect()
    }

    #[test]
    fn rows_per_tag_and_digest() {
        let img = ImageSummary {
            repo_tags: vec![
                "busybox:latest".into(),
                "127.0.0.1:5000/library/busybox:latest".into(),
            ],
            repo_digests: vec!["127.0.0.1:5000/library/busybox@sha256:c989".into()],
            ..Default::default()
        };
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            shape(&img, false),
            vec![
                s("127.0.0.1:5000/library/busybox", "latest", "<none>"),
                s("busybox", "latest", "<none>")
            ]
        );
        assert_eq!(
            shape(&img, true)[0],
            s("127.0.0.1:5000/library/busybox", "latest", "sha256:c989")
        );
        let untagged = ImageSummary::default();
        assert_eq!(
            shape(&untagged, false),
            vec![s("<none>", "<none>", "<none>")]
        );
        let digest_only = ImageSummary {
            repo_digests: vec!["bb@sha256:1".into()],
            ..Default::default()
        };
        assert_eq!(
            shape(&digest_only, false),
            vec![s("bb", "<none>", "<none>")]
        );
    }
}
