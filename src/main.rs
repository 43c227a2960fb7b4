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
    // Worker stacks of 8 MiB, not tokio's 2 MiB: a page rendered on the
    // server polls its data's futures nested inside the renderer's, and the
    // unoptimised build the quick start runs (scripts/run.sh) spends far
    // more stack on each frame than a release build; one page came within
    // a few frames of the old limit. Only the pages a stack touches are
    // committed, so the cost is address space.
    const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK_BYTES).build() {
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
