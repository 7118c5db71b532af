//! `rdocker login` and `rdocker logout`: the daemon checks the credentials (`POST /auth`), then
//! they are kept in the docker CLI's config file (`auths`), where `pull` and `push` find them.

use crate::auth::{self, AuthConfig, INDEX_SERVER};
use crate::http::Client;
use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::AsFd;

/// `docker login [OPTIONS] [SERVER]`
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long, value_name = "string")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Username
    #[arg(short = 'u', long, value_name = "string")]
    pub username: Option<String>,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `docker logout [SERVER]`
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// The server a login names: Docker Hub's index URL when none (or Hub's short name) is given.
fn server_of(arg: Option<&str>) -> String {
    match arg {
        None | Some("" | "docker.io" | "index.docker.io") => INDEX_SERVER.to_string(),
        Some(s) => s.to_string(),
    }
}

/// `rdocker login`.
pub async fn run_login(client: &Client, args: LoginArgs) -> anyhow::Result<i32> {
    let server = server_of(args.server.as_deref());
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (p, false) => p,
        (None, true) => {
            if args.username.is_none() {
                anyhow::bail!("Must provide --username with --password-stdin");
            }
            let mut text = String::new();
            std::io::stdin().read_line(&mut text)?;
            Some(text.trim_end_matches(['\n', '\r']).to_string())
        }
    };
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", true)?.trim().to_string(),
    };
    if username.is_empty() {
        anyhow::bail!("Username is required");
    }
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", false)?,
    };
    if password.is_empty() {
        anyhow::bail!("Password is required");
    }
    let mut config = AuthConfig {
        username,
        password,
        serveraddress: server.clone(),
        ..Default::default()
    };
    let answer: api::system::AuthResponse = client.post_json("/auth", &config).await?;
    if !answer.identity_token.is_empty() {
        // A token stands in for the password from now on, as the docker CLI keeps it.
        config.password.clear();
        config.identitytoken = answer.identity_token;
    }
    let file = auth::store(&server, &config)?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.\n\
         Configure a credential helper to remove this warning. See\n\
         https://docs.docker.com/go/credential-store/\n",
        file.display()
    );
    println!("{}", answer.status);
    Ok(0)
}

/// `rdocker logout`.
pub async fn run_logout(args: LogoutArgs) -> anyhow::Result<i32> {
    let server = server_of(args.server.as_deref());
    if auth::erase(&server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

/// Asks on the terminal (stdin must be one); the answer is echoed only when `echo`.
fn prompt(question: &str, echo: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    print!("{question}");
    std::io::stdout().flush()?;
    let fd = stdin.as_fd();
    let saved = nix::sys::termios::tcgetattr(fd)?;
    if !echo {
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(fd, nix::sys::termios::SetArg::TCSANOW, &quiet)?;
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if !echo {
        let _ = nix::sys::termios::tcsetattr(fd, nix::sys::termios::SetArg::TCSANOW, &saved);
        println!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
