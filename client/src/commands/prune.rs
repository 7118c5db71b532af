//! `rdocker image prune` (`POST /images/prune?filters=`) and `rdocker container prune`
//! (`POST /containers/prune`), with docker's confirmation prompt and report.

use super::confirm;
use crate::format::human_size_4;
use crate::http::{query, Client};
use crate::parse::parse_filters;
use api::container::PruneResponse;
use api::image::ImagePruneResponse;
use api::Filters;

const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
const ALL_IMAGES_WARNING: &str = "WARNING! This will remove all images without at least one \
                                  container associated to them.\nAre you sure you want to continue?";
const CONTAINERS_WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

/// `docker image prune [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `docker container prune [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

fn filters_query(filters: &Filters) -> String {
    if filters.is_empty() {
        return String::new();
    }
    query(&[("filters", filters.to_query())])
}

/// The report: the deleted list and a blank line when there is one, then the total.
fn report(title: &str, lines: &[String], reclaimed: u64) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str(title);
        out.push('\n');
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size_4(reclaimed as i64)
    ));
    out
}

fn image_lines(res: &ImagePruneResponse) -> Vec<String> {
    res.images_deleted
        .iter()
        .flatten()
        .map(|i| match (&i.untagged, &i.deleted) {
            (Some(u), _) if !u.is_empty() => format!("untagged: {u}"),
            (_, d) => format!("deleted: {}", d.as_deref().unwrap_or("")),
        })
        .collect()
}

/// `rdocker image prune`: a declined prompt exits 0 without a word, as docker does.
pub async fn images(client: &Client, args: ImagePruneArgs) -> anyhow::Result<i32> {
    let mut filters = parse_filters(&args.filter).map_err(anyhow::Error::msg)?;
    filters.add("dangling", if args.all { "false" } else { "true" });
    let warning = if args.all {
        ALL_IMAGES_WARNING
    } else {
        DANGLING_WARNING
    };
    if !args.force && !confirm(warning) {
        return Ok(0);
    }
    let res: ImagePruneResponse = client
        .post_for_json(&format!("/images/prune{}", filters_query(&filters)))
        .await?;
    print!(
        "{}",
        report("Deleted Images:", &image_lines(&res), res.space_reclaimed)
    );
    Ok(0)
}

/// `rdocker container prune`.
pub async fn containers(client: &Client, args: ContainerPruneArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&args.filter).map_err(anyhow::Error::msg)?;
    if !args.force && !confirm(CONTAINERS_WARNING) {
        return Ok(0);
    }
    let res: PruneResponse = client
        .post_for_json(&format!("/containers/prune{}", filters_query(&filters)))
        .await?;
    let deleted = res.containers_deleted.unwrap_or_default();
    print!(
        "{}",
        report("Deleted Containers:", &deleted, res.space_reclaimed)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::image::ImageDeleteItem;

    #[test]
    fn reports_match_docker() {
        let res = ImagePruneResponse {
            images_deleted: Some(vec![
                ImageDeleteItem {
                    untagged: Some("bb:latest".into()),
                    deleted: None,
                },
                ImageDeleteItem {
                    untagged: None,
                    deleted: Some("sha256:abc".into()),
                },
            ]),
            space_reclaimed: 4_261_550,
        };
        assert_eq!(
            report("Deleted Images:", &image_lines(&res), res.space_reclaimed),
            "Deleted Images:\nuntagged: bb:latest\ndeleted: sha256:abc\n\nTotal reclaimed space: 4.262MB\n"
        );
        assert_eq!(
            report("Deleted Containers:", &[], 0),
            "Total reclaimed space: 0B\n"
        );
    }

    #[test]
    fn dangling_filter() {
        let mut f = Filters::default();
        f.add("dangling", "true");
        assert_eq!(
            filters_query(&f),
            "?filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"
        );
        assert_eq!(filters_query(&Filters::default()), "");
    }
}
