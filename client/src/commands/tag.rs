//! `rdocker tag`: `POST /images/{source}/tag?repo=&tag=` with the target normalised as the
//! docker CLI does (`foo` → `repo=docker.io/library/foo&tag=latest`).

use crate::http::{path_escape, query, Client};
use crate::reference::Reference;

/// `docker tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

fn bad_reference(r: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("Error parsing reference: \"{r}\" is not a valid repository/tag: {e}")
}

/// The path docker's `ImageTag` posts to, or its error.
pub fn tag_path(source: &str, target: &str) -> anyhow::Result<String> {
    Reference::validate_any(source).map_err(|e| bad_reference(source, e))?;
    let r = Reference::parse_normalized(target).map_err(|e| bad_reference(target, e))?;
    if r.digest.is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let r = r.with_default_tag();
    let mut q = vec![("repo", r.name())];
    if let Some(t) = &r.tag {
        q.push(("tag", t.clone()));
    }
    Ok(format!("/images/{}/tag{}", path_escape(source), query(&q)))
}

/// `rdocker tag`: prints nothing on success.
pub async fn run(client: &Client, args: TagArgs) -> anyhow::Result<i32> {
    client.post(&tag_path(&args.source, &args.target)?).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_and_normalise() {
        assert_eq!(
            tag_path("busybox", "foo/bar:v2").expect("valid"),
            "/images/busybox/tag?repo=docker.io%2Ffoo%2Fbar&tag=v2"
        );
        assert_eq!(
            tag_path("busybox", "127.0.0.1:5000/x").expect("valid"),
            "/images/busybox/tag?repo=127.0.0.1%3A5000%2Fx&tag=latest"
        );
        assert_eq!(
            tag_path("busybox:1", "localhost:5000/a/b:c").expect("valid"),
            "/images/busybox:1/tag?repo=localhost%3A5000%2Fa%2Fb&tag=c"
        );
        let err = |s: &str, t: &str| tag_path(s, t).unwrap_err().to_string();
        assert_eq!(
            err("busybox", "UPPER"),
            "Error parsing reference: \"UPPER\" is not a valid repository/tag: invalid \
             reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(
            err("busybox", "a:b:c"),
            "Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format"
        );
        assert_eq!(
            err("bad::", "x"),
            "Error parsing reference: \"bad::\" is not a valid repository/tag: invalid reference format"
        );
        assert_eq!(
            err(
                "busybox",
                "a@sha256:0123456789012345678901234567890123456789012345678901234567890123"
            ),
            "refusing to create a tag with a digest reference"
        );
    }
}
