//! `deepstyle`: the studio window, or a headless subcommand (see `deepstyle --help`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: first thing in `main`, before any other thread starts.
    unsafe { deepstyle::kernels::threads::shorten_candle_spin() };
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
