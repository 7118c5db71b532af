//! `rdocker`: the Docker-compatible command-line client of rdockerd.
//!
//! Parses docker's flags (`cli.rs`), talks to the daemon over its socket (`http.rs`) and runs
//! one verb (`commands/`). Exit statuses follow the docker CLI: 0 on success, 1 when a verb
//! fails, 125 for flag errors and for `run`'s own failures (126/127 when the command could not
//! be run), otherwise the container's status for `run` and `start -a`.
#![forbid(unsafe_code)]

mod attach;
mod auth;
mod cli;
mod commands;
mod format;
mod http;
mod output;
mod parse;
mod progress;
mod reference;
mod template;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand};
use commands::render_error;

async fn dispatch(client: &http::Client, command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Run(a) => Ok(commands::run::run(client, a.0).await),
        Command::Create(a) => commands::create::run(client, a.0).await,
        Command::Start(a) => commands::start::run(client, a.0).await,
        Command::Stop(a) => commands::stop::run(client, a.0).await,
        Command::Kill(a) => commands::kill::run(client, a.0).await,
        Command::Restart(a) => commands::restart::run(client, a.0).await,
        Command::Rm(a) => commands::rm::run(client, a.0).await,
        Command::Ps(a) => commands::ps::run(client, a.0).await,
        Command::Logs(a) => commands::logs::run(client, a.0).await,
        Command::Inspect(a) => commands::inspect::run(client, a.0).await,
        Command::Wait(a) => commands::wait::run(client, a.0).await,
        Command::Images(a) => commands::images::run(client, a.0).await,
        Command::Rmi(a) => commands::rmi::run(client, a.0).await,
        Command::Import(a) => commands::import::run(client, a.0).await,
        Command::Version(a) => commands::version::run(client, a.0).await,
        Command::Info(a) => commands::info::run(client, a.0).await,
        Command::Pull(a) => commands::pull::run(client, a.0).await,
        Command::Push(a) => commands::push::run(client, a.0).await,
        Command::Login(a) => commands::login::run_login(client, a.0).await,
        Command::Logout(a) => commands::login::run_logout(a.0).await,
        Command::Load(a) => commands::load::run(client, a.0).await,
        Command::Save(a) => commands::save::run(client, a.0).await,
        Command::Tag(a) => commands::tag::run(client, a.0).await,
        Command::History(a) => commands::history::run(client, a.0).await,
        Command::Commit(a) => commands::commit::run(client, a.0).await,
        Command::Export(a) => commands::export::run(client, a.0).await,
        Command::Diff(a) => commands::diff::run(client, a.0).await,
        Command::Image(ImageCommand::Prune(a)) => commands::prune::images(client, a.0).await,
        Command::Container(ContainerCommand::Prune(a)) => {
            commands::prune::containers(client, a.0).await
        }
        Command::System(SystemCommand::Df(a)) => commands::df::run(client, a.0).await,
        // `canonical` leaves only the verbs above under a group.
        Command::Image(_) | Command::Container(_) | Command::System(_) => {
            unreachable!("management commands are made canonical before dispatch")
        }
    }
}

/// Parses the arguments; flag errors exit 125 as docker's do (1 for a missing argument).
fn parse_args() -> Result<Cli, i32> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
            ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand => 1,
            _ => 125,
        }
    })
}

fn real_main() -> i32 {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if cli.version {
        println!("rdocker version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let host = cli.daemon_host();
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 0;
    };
    let command = command.canonical();
    let is_run = matches!(command, Command::Run(_));
    let client = match http::Client::new(&host) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}{e}", if is_run { "rdocker: " } else { "" });
            return if is_run { 125 } else { 1 };
        }
    };
    // One thread: a verb is a few requests in sequence or side by side, and a second worker
    // only costs start-up time (the CPU count, a thread) and a slower exit.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    let result = rt.block_on(dispatch(&client, command));
    // A blocked read of our stdin (`-i`) must not keep the process alive.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", render_error(&e));
            1
        }
    }
}

fn main() {
    std::process::exit(real_main());
}
