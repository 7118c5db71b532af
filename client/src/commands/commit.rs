//! `rdocker commit`: `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`,
//! printing the new image's id.

use crate::http::{query, Client};
use crate::reference::Reference;
use api::container::IdResponse;
use clap::ArgAction;

/// `docker commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`
#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long, value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, value_name = "bool", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The query docker's `ContainerCommit` sends (keys sorted, as `url.Values` encodes them).
fn commit_query(args: &CommitArgs) -> anyhow::Result<String> {
    let (mut repo, mut tag) = (String::new(), String::new());
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        let r = Reference::parse_normalized(r)?;
        if r.digest.is_some() {
            anyhow::bail!("refusing to create a tag with a digest reference");
        }
        let r = r.with_default_tag();
        repo = r.name();
        tag = r.tag.clone().unwrap_or_default();
    }
    let mut q = vec![("author", args.author.clone().unwrap_or_default())];
    q.extend(args.change.iter().map(|c| ("changes", c.clone())));
    q.push(("comment", args.message.clone().unwrap_or_default()));
    q.push(("container", args.container.clone()));
    if !args.pause {
        q.push(("pause", "0".into()));
    }
    q.push(("repo", repo));
    q.push(("tag", tag));
    Ok(query(&q))
}

/// `rdocker commit`.
pub async fn run(client: &Client, args: CommitArgs) -> anyhow::Result<i32> {
    let res: IdResponse = client
        .post_for_json(&format!("/commit{}", commit_query(&args)?))
        .await?;
    println!("{}", res.id);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: CommitArgs,
    }

    fn q(args: &[&str]) -> anyhow::Result<String> {
        let t = T::try_parse_from(std::iter::once("x").chain(args.iter().copied()))?;
        commit_query(&t.a)
    }

    #[test]
    fn query_matches_docker_cli() {
        assert_eq!(
            q(&["c1"]).expect("valid"),
            "?author=&comment=&container=c1&repo=&tag="
        );
        assert_eq!(
            q(&[
                "-a",
                "me",
                "-c",
                "CMD [\"sh\"]",
                "-c",
                "ENV A=1",
                "-m",
                "msg",
                "-p=false",
                "c1",
                "foo"
            ])
            .expect("valid"),
            "?author=me&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&comment=msg&container=c1\
             &pause=0&repo=docker.io%2Flibrary%2Ffoo&tag=latest"
        );
        assert!(q(&[
            "c1",
            "foo@sha256:0123456789012345678901234567890123456789012345678901234567890123"
        ])
        .is_err());
        assert!(q(&["c1", "UP"]).is_err());
    }
}
