//! The command line, in docker's words: global options, then one subcommand per verb (each
//! verb's arguments live beside its implementation in `commands/`).

use crate::commands::{
    create::CreateArgs, images::ImagesArgs, import::ImportArgs, info::InfoArgs,
    inspect::InspectArgs, kill::KillArgs, logs::LogsArgs, ps::PsArgs, restart::RestartArgs,
    rm::RmArgs, rmi::RmiArgs, run::RunArgs, start::StartArgs, stop::StopArgs, version::VersionArgs,
    wait::WaitArgs,
};
use clap::{Parser, Subcommand};

/// Where the daemon listens unless `-H`, `RDOCKER_HOST` or `DOCKER_HOST` say otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/rdocker.sock";

/// A self-sufficient runtime for containers
#[derive(Debug, Parser)]
#[command(
    name = "rdocker",
    disable_version_flag = true,
    disable_help_subcommand = true,
    override_usage = "rdocker [OPTIONS] COMMAND"
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long, env = "RDOCKER_HOST", value_name = "list")]
    pub host: Option<String>,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(
        short = 'l',
        long = "log-level",
        value_name = "string",
        default_value = "info"
    )]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// `-H`, else `RDOCKER_HOST` (via clap), else `DOCKER_HOST`, else the default socket.
    pub fn daemon_host(&self) -> String {
        let env_host = std::env::var("DOCKER_HOST").ok();
        [self.host.clone(), env_host]
            .into_iter()
            .flatten()
            .find(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "rdocker run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "rdocker create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the Docker version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_stops_parsing_flags_after_the_image() {
        let cli = Cli::try_parse_from([
            "rdocker", "run", "--rm", "-h", "box", "busybox", "ls", "-l", "--rm",
        ])
        .expect("valid");
        let Some(Command::Run(r)) = cli.command else {
            panic!("not run")
        };
        assert!(r.container.rm);
        assert_eq!(r.container.hostname.as_deref(), Some("box"));
        assert_eq!(r.container.args, ["busybox", "ls", "-l", "--rm"]);
        assert!(r.sig_proxy);
    }

    #[test]
    fn run_rejects_unknown_flags_before_the_image() {
        assert!(Cli::try_parse_from(["rdocker", "run", "--bogus", "busybox"]).is_err());
    }

    #[test]
    fn global_host_comes_before_the_verb() {
        let cli = Cli::try_parse_from(["rdocker", "-H", "unix:///tmp/x.sock", "ps", "-l"])
            .expect("valid");
        assert_eq!(cli.daemon_host(), "unix:///tmp/x.sock");
        assert!(matches!(cli.command, Some(Command::Ps(ref p)) if p.latest));
    }
}
