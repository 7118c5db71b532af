//! `rdocker history`: `GET /images/{name}/history` as docker's table (`IMAGE  CREATED
//! CREATED BY  SIZE  COMMENT`), `-q` ids, or `--format`.

use super::ps::print_with_format;
use crate::format::{ago, ellipsis, human_size, short_id};
use crate::http::{path_escape, Client};
use api::image::HistoryItem;
use chrono::{DateTime, Local, Utc};
use clap::ArgAction;
use serde_json::{json, Value};

/// `docker history [OPTIONS] IMAGE`
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go
    /// template)
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, value_name = "bool", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

const HUMAN_TABLE: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const PLAIN_TABLE: &str = "{{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// Go's `time.Format(time.RFC3339)` in the local zone: `2023-11-14T22:13:20Z` in UTC.
fn rfc3339_local(unix: i64) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp(unix, 0) else {
        return String::new();
    };
    let local = t.with_timezone(&Local);
    if local.offset().local_minus_utc() == 0 {
        return t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// docker's `historyContext`: the fields a template sees.
fn fields(h: &HistoryItem, trunc: bool, human: bool, now: DateTime<Utc>) -> Value {
    let created_at = rfc3339_local(h.created);
    let created_by = h.created_by.replace('\t', " ");
    json!({
        "ID": if trunc { short_id(&h.id) } else { h.id.clone() },
        "CreatedSince": if human { ago(h.created, now) } else { created_at.clone() },
        "CreatedAt": created_at,
        "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
        "Size": if human { human_size(h.size) } else { h.size.to_string() },
        "Comment": h.comment,
    })
}

fn headers() -> Value {
    json!({
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
    })
}

/// `rdocker history`.
pub async fn run(client: &Client, args: HistoryArgs) -> anyhow::Result<i32> {
    let items: Option<Vec<HistoryItem>> = client
        .get_json(&format!("/images/{}/history", path_escape(&args.image)))
        .await?;
    let now = Utc::now();
    let trunc = !args.no_trunc;
    let rows: Vec<Value> = items
        .unwrap_or_default()
        .iter()
        .map(|h| fields(h, trunc, args.human, now))
        .collect();
    let format = args.format.as_deref().unwrap_or("");
    if args.quiet && (format.is_empty() || format == "table") {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let default = if args.human { HUMAN_TABLE } else { PLAIN_TABLE };
    print_with_format(format, default, &headers(), &rows)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Table;
    use crate::template::Template;

    fn items() -> Vec<HistoryItem> {
        vec![
            HistoryItem {
                id: "sha256:af8276b4ffb00db8c3f81fea3c55fdafaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    .into(),
                created: 1_700_000_000,
                created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]\twith a tab and more text here long"
                    .into(),
                tags: vec!["busybox:latest".into()],
                size: 0,
                comment: String::new(),
            },
            HistoryItem {
                id: "<missing>".into(),
                created: 1_600_000_000,
                created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
                tags: vec![],
                size: 4_261_550,
                comment: "imported from -".into(),
            },
        ]
    }

    fn table(trunc: bool, human: bool) -> String {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let t = Template::parse(if human { HUMAN_TABLE } else { PLAIN_TABLE }).expect("valid");
        let mut table = Table::docker();
        table.row(t.render(&headers()).split('\t').map(str::to_string));
        for h in items() {
            let row = fields(&h, trunc, human, now);
            table.row(t.render(&row).split('\t').map(str::to_string));
        }
        table.render()
    }

    #[test]
    fn rows_match_docker() {
        // What docker 28.2.2 prints for the same answer.
        assert_eq!(
            table(true, true),
            "IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT\n\
             af8276b4ffb0   3 years ago   /bin/sh -c #(nop)  CMD [\"sh\"] with a tab and…   0B        \n\
             <missing>      6 years ago   /bin/sh -c #(nop) ADD file:abc in /             4.26MB    imported from -\n"
        );
        let no_trunc = table(false, true);
        assert!(no_trunc.contains("sha256:af8276b4ffb00db8c3f81fea3c55fdafaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa   3 years ago   /bin/sh -c #(nop)  CMD [\"sh\"] with a tab and more text here long   0B"));
        if Local::now().offset().local_minus_utc() == 0 {
            assert_eq!(
                table(true, false).lines().nth(2),
                Some("<missing>      2020-09-13T12:26:40Z   /bin/sh -c #(nop) ADD file:abc in /             4261550   imported from -")
            );
        }
    }
}
