//! One module per verb. Each `run` function returns the process exit status; errors it
//! returns are printed by `main` (exit 1), as the docker CLI does for every verb but `run`.

pub mod commit;
pub mod create;
pub mod df;
pub mod diff;
pub mod export;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logs;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod start;
pub mod stop;
pub mod tag;
pub mod version;
pub mod wait;

use crate::http;
use std::future::Future;
use std::io::Write;

/// docker's `PromptForConfirmation`: `message [y/N] ` on stdout, then one line of stdin;
/// only `y` (either case) agrees.
pub fn confirm(message: &str) -> bool {
    print!("{message} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(_) => line.trim().eq_ignore_ascii_case("y"),
        Err(_) => false,
    }
}

/// How an error is shown: our own messages alone (docker prints no cause chain), anything
/// unexpected with its causes.
pub fn render_error(err: &anyhow::Error) -> String {
    if let Some(e) = err.downcast_ref::<http::Error>() {
        match e {
            http::Error::Connect { .. }
            | http::Error::Daemon { .. }
            | http::Error::InvalidHost(_) => return e.to_string(),
            _ => {}
        }
    }
    format!("{err:#}")
}

/// Runs `op` on every name at once (docker's `parallelOperation`) and returns the results in
/// the order of `names`.
pub async fn parallel<F, Fut>(names: &[String], op: F) -> Vec<Result<(), http::Error>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), http::Error>>,
{
    futures_util::future::join_all(names.iter().cloned().map(op)).await
}

/// Prints each name that succeeded, then the errors (one per line) on stderr; exit status 1
/// when any failed. With `ignore_not_found` (`rm -f`), a missing one is reported but not fatal.
pub fn report(
    names: &[String],
    results: Vec<Result<(), http::Error>>,
    ignore_not_found: bool,
) -> i32 {
    let mut errors = Vec::new();
    for (name, res) in names.iter().zip(results) {
        match res {
            Ok(()) => println!("{name}"),
            Err(e) if ignore_not_found && e.is_not_found() => eprintln!("{e}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        return 0;
    }
    eprintln!("{}", errors.join("\n"));
    1
}
