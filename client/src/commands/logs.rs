//! `rdocker logs`: inspect to learn `Config.Tty`, then stream `GET /containers/{id}/logs`.

use crate::attach::stream_output;
use crate::http::{path_escape, query, Client, StreamReader};
use api::container::ContainerInspect;
use api::timestamp::get_timestamp;
use chrono::Utc;
use hyper::Method;

/// `docker logs [OPTIONS] CONTAINER`
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

fn logs_query(args: &LogsArgs) -> anyhow::Result<String> {
    let now = Utc::now();
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if let Some(s) = &args.since {
        q.push(("since", get_timestamp(s, now).map_err(anyhow::Error::msg)?));
    }
    if let Some(u) = &args.until {
        q.push(("until", get_timestamp(u, now).map_err(anyhow::Error::msg)?));
    }
    for (on, key) in [
        (args.timestamps, "timestamps"),
        (args.follow, "follow"),
        (args.details, "details"),
    ] {
        if on {
            q.push((key, "1".to_string()));
        }
    }
    q.push(("tail", args.tail.clone()));
    Ok(query(&q))
}

/// `rdocker logs`.
pub async fn run(client: &Client, args: LogsArgs) -> anyhow::Result<i32> {
    let name = path_escape(&args.container);
    let c: ContainerInspect = client.get_json(&format!("/containers/{name}/json")).await?;
    let path = format!("/containers/{name}/logs{}", logs_query(&args)?);
    let res = client
        .send(Method::GET, &path, crate::http::empty(), &[])
        .await?;
    let mut reader = StreamReader::Body(res.into_body());
    stream_output(&mut reader, c.config.tty).await?;
    Ok(0)
}
