//! The status line: one line at the foot of a terminal saying what is
//! being waited for (a Git transfer, a backend's wait, `apply --wait`),
//! rewritten in place on stderr, as cargo and git show theirs. It is
//! only ever written when stderr is a terminal, never into a pipe or a
//! log. Lines printed for good ([`print_above`]) take its place and it is
//! drawn again below them, so a result never ends up half overwritten.

use std::io::Write;
use std::sync::{LazyLock, Mutex};

/// The line shown now (empty: none).
static SHOWN: Mutex<String> = Mutex::new(String::new());

/// Whether stderr is a terminal: the status line is shown at all.
pub fn on_terminal() -> bool {
    static TTY: LazyLock<bool> =
        LazyLock::new(|| std::io::IsTerminal::is_terminal(&std::io::stderr()));
    *TTY
}

fn shown() -> std::sync::MutexGuard<'static, String> {
    SHOWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// `\r`, then `line` padded over what was shown before.
fn draw(old: &str, line: &str) {
    let width = old.chars().count();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line:<width$}");
    if line.chars().count() < width {
        let _ = write!(err, "\r{line}");
    }
    let _ = err.flush();
}

/// Shows `line` as the status line (on a terminal).
pub fn show(line: &str) {
    if !on_terminal() {
        return;
    }
    let mut shown = shown();
    draw(&shown, line);
    *shown = line.to_string();
}

/// Leaves `line` on the terminal for good and ends the status line.
pub fn finish(line: &str) {
    if !on_terminal() {
        return;
    }
    let mut shown = shown();
    draw(&shown, line);
    eprintln!();
    shown.clear();
}

/// Removes the status line (on a terminal).
pub fn clear() {
    if !on_terminal() {
        return;
    }
    let mut shown = shown();
    draw(&shown, "");
    shown.clear();
}

/// Prints `text` on stdout, above the status line: the line is cleared
/// first and drawn again after.
pub fn print_above(text: &str) {
    let shown = if on_terminal() { Some(shown()) } else { None };
    let Some(shown) = shown.filter(|s| !s.is_empty()) else {
        anstream::print!("{text}");
        return;
    };
    draw(&shown, "");
    anstream::print!("{text}");
    let _ = std::io::stdout().flush();
    draw("", &shown);
}
