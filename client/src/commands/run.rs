//! `rdocker run`, in the docker CLI's order: create → hijacked attach and wait (both until
//! their response heads arrive) → start → stream the output → exit with the wait's `StatusCode`.

use super::create::{build_request, create_container, ContainerOptions};
use super::render_error;
use crate::attach::{self, Helpers, RawTerminal, Session, StreamEnd};
use crate::http::{self, query, read_json, Client};
use api::container::WaitResponse;
use clap::ArgAction;
use hyper::body::Incoming;
use hyper::{Method, Response};
use std::io::IsTerminal;
use std::time::Duration;

/// `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub container: ContainerOptions,
}

/// What a shell reports for the docker CLI killed by SIGPIPE (its stdout was closed).
const SIGPIPE_STATUS: i32 = 128 + 13;

/// docker's `toStatusError`: 127 when the command was not found, 126 when it could not be
/// executed, 125 for any other daemon or client error.
pub fn status_for(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// `rdocker run`: returns the container's exit status, or 125/126/127 after printing
/// `rdocker: <error>` and the `--help` hint.
pub async fn run(client: &Client, args: RunArgs) -> i32 {
    let o = &args.container;
    if !args.detach && o.tty && o.interactive && !std::io::stdin().is_terminal() {
        // docker returns this one unwrapped: no "docker:" prefix, exit status 1.
        eprintln!("the input device is not a TTY");
        return 1;
    }
    match run_container(client, &args).await {
        Ok(code) => code,
        Err(e) => {
            let message = render_error(&e);
            eprintln!("rdocker: {message}\n\nRun 'rdocker run --help' for more information");
            status_for(&message)
        }
    }
}

async fn run_container(client: &Client, args: &RunArgs) -> anyhow::Result<i32> {
    let o = &args.container;
    let req = build_request(o, args.detach)?;
    let id = create_container(client, &req, o.name.as_deref()).await?;
    if args.detach {
        // docker registers a wait here too and drops it once the container has started.
        let wait = wait_head(client, &id, o.rm).await;
        client.post(&format!("/containers/{id}/start")).await?;
        drop(wait);
        println!("{id}");
        return Ok(0);
    }
    let session = Session {
        tty: o.tty,
        stdin: o.interactive,
        sig_proxy: args.sig_proxy,
    };
    attached(client, &id, &session, o.rm).await
}

/// Sends `POST /containers/{id}/wait?condition=…` and returns once the response head is in:
/// only then may the container be started without missing its exit.
pub async fn wait_head(
    client: &Client,
    id: &str,
    removed: bool,
) -> Result<Response<Incoming>, http::Error> {
    let condition = if removed { "removed" } else { "next-exit" };
    let path = format!(
        "/containers/{id}/wait{}",
        query(&[("condition", condition)])
    );
    client.send(Method::POST, &path, http::empty(), &[]).await
}

/// The exit status from a wait body; docker's messages and 125 when waiting failed.
pub async fn wait_status(res: Response<Incoming>) -> i32 {
    match read_json::<WaitResponse>(res).await {
        Ok(WaitResponse { error: Some(e), .. }) if !e.message.is_empty() => {
            eprintln!("Error waiting for container: {}", e.message);
            125
        }
        Ok(w) => w.status_code as i32,
        Err(e) => {
            eprintln!("error waiting for container: {}", render_error(&e.into()));
            125
        }
    }
}

fn attach_path(id: &str, stdin: bool) -> String {
    let mut q = vec![("stream", "1"), ("stdout", "1"), ("stderr", "1")];
    if stdin {
        q.push(("stdin", "1"));
    }
    format!("/containers/{id}/attach{}", query(&q))
}

/// Attach, wait, start and stream for a created container (`run`, `start -a`). Returns the
/// wait's status; start errors are returned after the streams and the terminal are restored.
pub async fn attached(
    client: &Client,
    id: &str,
    s: &Session,
    removed: bool,
) -> anyhow::Result<i32> {
    let raw = if s.tty && s.stdin {
        RawTerminal::enter()
    } else {
        None
    };
    // Both must be in place before the start; neither needs the other, so they go together.
    let attach = attach_path(id, s.stdin);
    let (hijacked, wait) = tokio::join!(client.hijack(&attach), wait_head(client, id, removed));
    let (mut hijacked, wait) = (hijacked?, wait?);
    let mut helpers = Helpers::start(client, id, &mut hijacked, s);
    if let Err(e) = client.post(&format!("/containers/{id}/start")).await {
        helpers.stop();
        drop(raw);
        if removed {
            // As docker does, let an auto-removed container go before reporting.
            let _ = tokio::time::timeout(Duration::from_secs(2), wait_status(wait)).await;
        }
        return Err(e.into());
    }
    if s.tty {
        helpers.watch_size(client, id);
    }
    let streamed = attach::stream_output(&mut hijacked.reader, s.tty).await;
    helpers.stop();
    drop(raw);
    match streamed {
        Ok(StreamEnd::OutputClosed) => return Ok(SIGPIPE_STATUS),
        Err(e) if e.downcast_ref::<attach::SystemError>().is_some() => return Err(e),
        // A broken attach connection still leaves the exit status to the wait.
        Ok(StreamEnd::Eof) | Err(_) => {}
    }
    Ok(wait_status(wait).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_statuses() {
        let not_found =
            "Error response from daemon: exec: \"nope\": executable file not found in $PATH";
        assert_eq!(status_for(not_found), 127);
        assert_eq!(status_for("open /x: no such file or directory"), 127);
        assert_eq!(status_for("exec /etc: permission denied"), 126);
        assert_eq!(
            status_for("Error response from daemon: No such image: x:latest"),
            125
        );
    }

    #[test]
    fn attach_query() {
        assert_eq!(
            attach_path("c", false),
            "/containers/c/attach?stream=1&stdout=1&stderr=1"
        );
        assert!(attach_path("c", true).ends_with("&stdin=1"));
    }
}
