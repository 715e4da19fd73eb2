//! The `mooring` binary: parses arguments, runs a command, maps the outcome
//! to an exit code. Everything else lives in the library.

mod cli;

fn main() {
    no_library_backtraces();
    std::process::exit(cli::main());
}

/// Errors made inside libraries (regorus makes and drops one for every
/// reference a Rego rule cannot resolve, thousands per run) capture a
/// backtrace when `RUST_BACKTRACE` is set, which made policy evaluation 15%
/// slower. `RUST_LIB_BACKTRACE=0` turns that off for library errors only:
/// a panic still prints its backtrace under `RUST_BACKTRACE`. A value the
/// user set is kept.
fn no_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the first statement of `main`, before any thread is
        // started, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}
