//! The command line, in docker's words: global options, then one subcommand per verb (each
//! verb's arguments live beside its implementation in `commands/`).

use crate::commands::{
    commit::CommitArgs,
    create::CreateArgs,
    df::DfArgs,
    diff::DiffArgs,
    export::ExportArgs,
    history::HistoryArgs,
    images::ImagesArgs,
    import::ImportArgs,
    info::InfoArgs,
    inspect::InspectArgs,
    kill::KillArgs,
    load::LoadArgs,
    login::{LoginArgs, LogoutArgs},
    logs::LogsArgs,
    prune::{ContainerPruneArgs, ImagePruneArgs},
    ps::PsArgs,
    pull::PullArgs,
    push::PushArgs,
    restart::RestartArgs,
    rm::RmArgs,
    rmi::RmiArgs,
    run::RunArgs,
    save::SaveArgs,
    start::StartArgs,
    stop::StopArgs,
    tag::TagArgs,
    version::VersionArgs,
    wait::WaitArgs,
};
use clap::{Parser, Subcommand};

/// A verb's arguments, built only when the parser enters that verb (clap's `Command::defer`):
/// `rdocker run` does not pay for defining the flags of thirty other verbs (their code would
/// be paged in on every start).
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(augment_keeping_about::<T>)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(update_keeping_about::<T>)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Adds `T`'s args, keeping the verb's own description: built eagerly, a variant's settings
/// (its doc comment) come after those of its args struct, so the struct's doc must not win
/// when the args come later.
fn augment_keeping_about<T: clap::Args>(cmd: clap::Command) -> clap::Command {
    let about = About::of(&cmd);
    about.restore(T::augment_args(cmd))
}

fn update_keeping_about<T: clap::Args>(cmd: clap::Command) -> clap::Command {
    let about = About::of(&cmd);
    about.restore(T::augment_args_for_update(cmd))
}

/// A command's `about` and `long_about`.
struct About(
    Option<clap::builder::StyledStr>,
    Option<clap::builder::StyledStr>,
);

impl About {
    fn of(cmd: &clap::Command) -> Self {
        About(cmd.get_about().cloned(), cmd.get_long_about().cloned())
    }

    fn restore(self, cmd: clap::Command) -> clap::Command {
        let cmd = match self.0 {
            Some(a) => cmd.about(a),
            None => cmd.about(None::<&'static str>),
        };
        match self.1 {
            Some(a) => cmd.long_about(a),
            None => cmd.long_about(None::<&'static str>),
        }
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

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
    Run(Lazy<RunArgs>),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "rdocker create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(Lazy<CreateArgs>),
    /// Start one or more stopped containers
    Start(Lazy<StartArgs>),
    /// Stop one or more running containers
    Stop(Lazy<StopArgs>),
    /// Kill one or more running containers
    Kill(Lazy<KillArgs>),
    /// Restart one or more containers
    Restart(Lazy<RestartArgs>),
    /// Remove one or more containers
    Rm(Lazy<RmArgs>),
    /// List containers
    Ps(Lazy<PsArgs>),
    /// Fetch the logs of a container
    Logs(Lazy<LogsArgs>),
    /// Return low-level information on Docker objects
    Inspect(Lazy<InspectArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Lazy<WaitArgs>),
    /// List images
    Images(Lazy<ImagesArgs>),
    /// Remove one or more images
    Rmi(Lazy<RmiArgs>),
    /// Import the contents from a tarball to create a filesystem image
    Import(Lazy<ImportArgs>),
    /// Show the Docker version information
    Version(Lazy<VersionArgs>),
    /// Display system-wide information
    Info(Lazy<InfoArgs>),
    /// Download an image from a registry
    Pull(Lazy<PullArgs>),
    /// Upload an image to a registry
    Push(Lazy<PushArgs>),
    /// Authenticate to a registry
    Login(Lazy<LoginArgs>),
    /// Log out from a registry
    Logout(Lazy<LogoutArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Lazy<LoadArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Lazy<SaveArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Lazy<TagArgs>),
    /// Show the history of an image
    History(Lazy<HistoryArgs>),
    /// Create a new image from a container's changes
    Commit(Lazy<CommitArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Lazy<ExportArgs>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Lazy<DiffArgs>),
    /// Manage images
    #[command(subcommand, arg_required_else_help = true)]
    Image(ImageCommand),
    /// Manage containers
    #[command(subcommand, arg_required_else_help = true)]
    Container(ContainerCommand),
    /// Manage Docker
    #[command(subcommand, arg_required_else_help = true)]
    System(SystemCommand),
}

/// `rdocker image COMMAND`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(Lazy<ImagesArgs>),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(Lazy<RmiArgs>),
    /// Remove unused images
    Prune(Lazy<ImagePruneArgs>),
    /// Download an image from a registry
    Pull(Lazy<PullArgs>),
    /// Upload an image to a registry
    Push(Lazy<PushArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Lazy<LoadArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Lazy<SaveArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Lazy<TagArgs>),
    /// Show the history of an image
    History(Lazy<HistoryArgs>),
    /// Import the contents from a tarball to create a filesystem image
    Import(Lazy<ImportArgs>),
}

/// `rdocker container COMMAND`
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(Lazy<PsArgs>),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(Lazy<RmArgs>),
    /// Remove all stopped containers
    Prune(Lazy<ContainerPruneArgs>),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "rdocker container run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(Lazy<RunArgs>),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "rdocker container create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(Lazy<CreateArgs>),
    /// Start one or more stopped containers
    Start(Lazy<StartArgs>),
    /// Stop one or more running containers
    Stop(Lazy<StopArgs>),
    /// Kill one or more running containers
    Kill(Lazy<KillArgs>),
    /// Restart one or more containers
    Restart(Lazy<RestartArgs>),
    /// Fetch the logs of a container
    Logs(Lazy<LogsArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Lazy<WaitArgs>),
    /// Create a new image from a container's changes
    Commit(Lazy<CommitArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Lazy<ExportArgs>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Lazy<DiffArgs>),
}

/// `rdocker system COMMAND`
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(Lazy<DfArgs>),
    /// Display system-wide information
    Info(Lazy<InfoArgs>),
}

impl Command {
    /// The management-command spellings (`image ls`, `container rm`, …) as the top-level verb
    /// they alias; the verbs that exist only under a group (`image prune`, `container prune`,
    /// `system df`) stay as they are.
    pub fn canonical(self) -> Command {
        match self {
            Command::Image(c) => match c {
                ImageCommand::Ls(a) => Command::Images(a),
                ImageCommand::Rm(a) => Command::Rmi(a),
                ImageCommand::Pull(a) => Command::Pull(a),
                ImageCommand::Push(a) => Command::Push(a),
                ImageCommand::Load(a) => Command::Load(a),
                ImageCommand::Save(a) => Command::Save(a),
                ImageCommand::Tag(a) => Command::Tag(a),
                ImageCommand::History(a) => Command::History(a),
                ImageCommand::Import(a) => Command::Import(a),
                c @ ImageCommand::Prune(_) => Command::Image(c),
            },
            Command::Container(c) => match c {
                ContainerCommand::Ls(a) => Command::Ps(a),
                ContainerCommand::Rm(a) => Command::Rm(a),
                ContainerCommand::Run(a) => Command::Run(a),
                ContainerCommand::Create(a) => Command::Create(a),
                ContainerCommand::Start(a) => Command::Start(a),
                ContainerCommand::Stop(a) => Command::Stop(a),
                ContainerCommand::Kill(a) => Command::Kill(a),
                ContainerCommand::Restart(a) => Command::Restart(a),
                ContainerCommand::Logs(a) => Command::Logs(a),
                ContainerCommand::Wait(a) => Command::Wait(a),
                ContainerCommand::Commit(a) => Command::Commit(a),
                ContainerCommand::Export(a) => Command::Export(a),
                ContainerCommand::Diff(a) => Command::Diff(a),
                c @ ContainerCommand::Prune(_) => Command::Container(c),
            },
            Command::System(SystemCommand::Info(a)) => Command::Info(a),
            other => other,
        }
    }
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
    fn management_commands_alias_the_verbs() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("rdocker").chain(args.iter().copied()))
                .expect("valid")
                .command
                .expect("a verb")
                .canonical()
        };
        assert!(matches!(parse(&["image", "ls"]), Command::Images(_)));
        assert!(matches!(parse(&["image", "rm", "x"]), Command::Rmi(_)));
        assert!(matches!(parse(&["container", "ps", "-a"]), Command::Ps(ref p) if p.all));
        assert!(matches!(
            parse(&["container", "run", "--rm", "busybox", "ls", "-l"]),
            Command::Run(ref r) if r.container.args == ["busybox", "ls", "-l"]
        ));
        assert!(matches!(
            parse(&["image", "prune", "-a", "-f"]),
            Command::Image(ImageCommand::Prune(ref p)) if p.all && p.force
        ));
        assert!(matches!(
            parse(&["system", "df", "-v"]),
            Command::System(SystemCommand::Df(ref d)) if d.verbose
        ));
        assert!(matches!(
            parse(&["commit", "-c", "CMD x", "-c", "ENV a=b", "-p=false", "c1"]),
            Command::Commit(ref c) if c.change.len() == 2 && !c.pause
        ));
        assert!(matches!(parse(&["commit", "-p", "c1"]), Command::Commit(ref c) if c.pause));
        assert!(matches!(
            parse(&["history", "-H=false", "busybox"]),
            Command::History(ref h) if !h.human
        ));
    }

    #[test]
    fn global_host_comes_before_the_verb() {
        let cli = Cli::try_parse_from(["rdocker", "-H", "unix:///tmp/x.sock", "ps", "-l"])
            .expect("valid");
        assert_eq!(cli.daemon_host(), "unix:///tmp/x.sock");
        assert!(matches!(cli.command, Some(Command::Ps(ref p)) if p.latest));
    }
}
