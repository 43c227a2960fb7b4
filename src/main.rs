//! `gatehouse`: load config → logging → build → run (see `cli`).

use clap::Parser;
use std::process::ExitCode;

// mimalloc: the request path allocates many small, short-lived objects on
// two threads; glibc's allocator spent about a fifth of the CPU time of the
// poll benchmark, and left memory fragmented between its arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gatehouse: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gatehouse::cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("gatehouse: {err:#}");
            ExitCode::FAILURE
        }
    }
}
