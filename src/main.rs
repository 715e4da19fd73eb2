//! The `mooring` binary: parses arguments, runs a command, maps the outcome
//! to an exit code. Everything else lives in the library.

mod cli;

fn main() {
    no_library_backtraces();
    return_freed_memory_at_once();
    std::process::exit(cli::main());
}

/// mimalloc, not the C library's malloc. mooring builds and drops millions
/// of small values (every YAML node is one) on several threads, and glibc's
/// malloc spent a quarter of `validate`'s instructions on them, more again
/// waiting on its arenas' locks: with mimalloc, `validate` of 10,000
/// documents took about 30% less wall time, at the same peak memory (see
/// [`return_freed_memory_at_once`]; README, Benchmarks). Built without
/// transparent huge pages (`no_thp`), which added 20 MiB to that peak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (its `include/mimalloc.h`):
/// libmimalloc-sys names the options either side of it (14 and 16), not
/// this one. The test below checks it by its default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc keeps freed pages for a second before it gives them back, in case
/// they are wanted again; `validate` frees each part's objects while the
/// next part is read, so both were held at once and its peak memory was
/// 18% higher. Given back at once, the peak is what glibc's was, with no
/// measurable loss of speed. `MIMALLOC_PURGE_DELAY`, when set, decides.
fn return_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one option of the allocator (documented as not
        // thread-safe) as `main` starts, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The option numbered [`MI_OPTION_PURGE_DELAY`] holds the purge
    /// delay's default (1,000 ms, in mimalloc's `src/options.c`) in a
    /// process that did not set it, or what `MIMALLOC_PURGE_DELAY` says;
    /// its neighbours default to 1 and 0.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        let expected = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1000);
        // SAFETY: reads an option; nothing in the tests sets it.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, expected);
    }
}
