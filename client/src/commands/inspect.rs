//! `rdocker inspect`: containers, falling back to images, printed as docker does (an array
//! indented by 4 spaces, in the daemon's key order) or through a `--format` template.

use crate::format::indent_json;
use crate::http::{path_escape, Client};
use crate::template::Template;

/// `docker inspect [OPTIONS] NAME|ID [NAME|ID...]`
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json', or a Go template such as '{{.State.Status}}')
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "string", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

/// The raw JSON of one object, or the message to print for it.
async fn fetch(
    client: &Client,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<String, String> {
    let container = format!(
        "/containers/{}/json{}",
        path_escape(name),
        if size { "?size=1" } else { "" }
    );
    let image = format!("/images/{}/json", path_escape(name));
    let get = |path: String| async move {
        let bytes = client.get_bytes(&path).await?;
        Ok::<_, crate::http::Error>(String::from_utf8_lossy(&bytes).into_owned())
    };
    let res = match kind {
        Some("container") => get(container).await,
        Some("image") => get(image).await,
        _ => match get(container).await {
            Err(e) if e.is_not_found() => match get(image).await {
                Err(e) if e.is_not_found() => return Err(format!("Error: No such object: {name}")),
                other => other,
            },
            other => other,
        },
    };
    res.map_err(|e| e.to_string())
}

/// `rdocker inspect`.
pub async fn run(client: &Client, args: InspectArgs) -> anyhow::Result<i32> {
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match fetch(client, name, args.kind.as_deref(), args.size).await {
            Ok(raw) => found.push(raw),
            Err(e) => errors.push(e),
        }
    }
    match template {
        None => println!("{}", indent_json(&format!("[{}]", found.join(",")), "    ")),
        Some(t) => {
            for raw in &found {
                let value: serde_json::Value = serde_json::from_str(raw)?;
                println!("{}", t.render(&value));
            }
        }
    }
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(1)
}
