//! The `mooring` binary: parses arguments, runs a command, maps the outcome
//! to an exit code. Everything else lives in the library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
