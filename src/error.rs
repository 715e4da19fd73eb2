//! What the library's errors share. Each module has its own `thiserror`
//! enum and keeps the error it was caused by as its `source()`, out of its
//! own message; [`with_causes`] puts the whole chain on one line where a
//! report is a single string.

/// An error and its causes in one line, `: `-separated, each cause left
/// out when the text before already says it. For reports that are a
/// single string (the daemon's status and logs); the CLI prints the same
/// through `anyhow`'s `{:#}`.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer: inner")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once() {
        let inner = || std::io::Error::other("inner");
        assert_eq!(with_causes(&Outer(inner())), "outer: inner");
        // A message that already quotes its cause does not repeat it.
        assert_eq!(with_causes(&Repeats(inner())), "outer: inner");
    }
}
