//! The `mooring` binary: parses arguments, runs a command, maps the outcome
//! to an exit code. Everything else lives in the library.

mod cli;

fn main() {
    no_library_backtraces();
    fewer_malloc_arenas();
    std::process::exit(cli::main());
}

/// glibc's malloc gives threads their own arenas, up to eight per core,
/// and memory freed in one arena is not reused by another. The daemon's
/// runtime threads take turns with the same large structures (the desired
/// set, LIST pages, the plan), so each arena grows to their size: with two
/// arenas its peak RSS at 10,000 objects fell by about 5% (VmHWM, a real
/// kube-apiserver), and `validate` kept its speed. `MALLOC_ARENA_MAX` or
/// `GLIBC_TUNABLES`, when set, are left to decide.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: sets one parameter of the C allocator, as the first
        // statements of `main` run, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
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
