//! What a source leaves out besides hidden entries, in gitignore's syntax
//! (`!` to take a path back, `dir/` for folders only, `/x` anchored, `**`):
//! - [`Exclude`], the source's own patterns (`--exclude`, a source's
//!   `exclude:` in `mooring.yaml`), matched against paths relative to the
//!   folder mooring reads;
//! - a [`IGNORE_FILE`] (`.mooringignore`) in any folder read, which applies
//!   to that folder and those below it, as a `.gitignore` does and as Flux's
//!   `.sourceignore` does for a source. It is read from the source itself:
//!   the folder on disk, or the commit's tree in Git mode. Files above the
//!   folder mooring reads are not consulted, so a folder reads the same from
//!   disk and from Git.
//!
//! The patterns are compiled and matched by the `ignore` crate's
//! `gitignore` module (ripgrep's), not by rules written here. Both walkers
//! ([`super::fs`], [`super::tree`]) keep a [`Rules`] as they go down.

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::SourceError;
use crate::finding::Finding;

/// The name of the file that lists what a folder's source leaves out.
pub const IGNORE_FILE: &str = ".mooringignore";

/// Every pattern is matched against a path relative to the folder its
/// list belongs to: nothing is stripped from the candidate.
const ROOT: &str = ".";

/// The patterns a source is read without (`--exclude`, `exclude:`).
#[derive(Debug, Clone)]
pub struct Exclude {
    patterns: Vec<String>,
    matcher: Gitignore,
}

impl Default for Exclude {
    fn default() -> Self {
        Exclude {
            patterns: Vec::new(),
            matcher: Gitignore::empty(),
        }
    }
}

impl Exclude {
    /// Compiles `patterns`; the first that is not a pattern is the error
    /// ([`check_pattern`] says why).
    pub fn new<S: AsRef<str>>(
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Exclude, SourceError> {
        let mut builder = GitignoreBuilder::new(ROOT);
        let mut kept = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            check_pattern(pattern).map_err(|why| SourceError::Exclude {
                pattern: pattern.to_string(),
                why,
            })?;
            add(&mut builder, pattern).map_err(|why| SourceError::Exclude {
                pattern: pattern.to_string(),
                why,
            })?;
            kept.push(pattern.to_string());
        }
        let matcher = builder.build().map_err(|e| SourceError::Exclude {
            pattern: kept.join(" "),
            why: e.to_string(),
        })?;
        Ok(Exclude {
            patterns: kept,
            matcher,
        })
    }

    /// The patterns, as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Whether `pattern` is one pattern `--exclude` and `exclude:` take: not
/// empty, not a comment (a `.mooringignore` line starting with `#`), and a
/// glob gitignore's syntax reads. The error says why not.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("an empty pattern excludes nothing".to_string());
    }
    if pattern.starts_with('#') {
        return Err(format!(
            "starts with #, which makes it a comment in gitignore's syntax; write \\{pattern} \
             for a name starting with #"
        ));
    }
    add(&mut GitignoreBuilder::new(ROOT), pattern)
}

/// Adds one line to `builder`; the error is the `ignore` crate's, without
/// its repetition of the pattern.
fn add(builder: &mut GitignoreBuilder, line: &str) -> Result<(), String> {
    match builder.add_line(None, line) {
        Ok(_) => Ok(()),
        Err(ignore::Error::Glob { err, .. }) => Err(err),
        Err(e) => Err(e.to_string()),
    }
}

/// The exclusions in force at one place of a walk: the source's patterns,
/// and the ignore files of the folders walked down through, deepest last.
/// A deeper file decides before a shallower one, and within a file the last
/// matching line decides, as in Git; the source's own patterns decide
/// before every file.
pub(super) struct Rules<'a> {
    exclude: &'a Exclude,
    /// Each ignore file in force: the folder it is in (relative to the
    /// root, with a trailing `/`, empty for the root) and its lines.
    files: Vec<(String, Gitignore)>,
}

impl<'a> Rules<'a> {
    pub fn new(exclude: &'a Exclude) -> Self {
        Rules {
            exclude,
            files: Vec::new(),
        }
    }

    /// Whether `rel` (relative to the root; `is_dir` for a folder) is left
    /// out. A folder left out is not read at all, so nothing under it can
    /// be taken back by a `!` line, as in Git.
    pub fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        match self.exclude.matcher.matched(rel, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
        for (folder, lines) in self.files.iter().rev() {
            let Some(below) = rel.strip_prefix(folder.as_str()) else {
                continue;
            };
            match lines.matched(below, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }

    /// How many ignore files are in force: what [`Rules::restore`] goes
    /// back to when the walk leaves a folder.
    pub fn mark(&self) -> usize {
        self.files.len()
    }

    /// Forgets the ignore files of the folders left.
    pub fn restore(&mut self, mark: usize) {
        self.files.truncate(mark);
    }

    /// Puts the ignore file of the folder `folder` (relative to the root),
    /// shown as `shown`, in force, from its `bytes`: every line that is
    /// not a pattern is an error naming its line, and is left out.
    pub fn enter(&mut self, folder: &str, shown: &str, bytes: &[u8], findings: &mut Vec<Finding>) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            findings.push(
                Finding::error(
                    "load",
                    format!("{IGNORE_FILE} is not UTF-8: not read, nothing in it is left out"),
                )
                .at(shown, 1),
            );
            return;
        };
        let mut builder = GitignoreBuilder::new(ROOT);
        for (i, line) in text.lines().enumerate() {
            if let Err(why) = add(&mut builder, line) {
                findings.push(
                    Finding::error(
                        "load",
                        format!(
                            "{:?} is not a pattern: {why}; the line is left out",
                            line.trim_end()
                        ),
                    )
                    .at(shown, i + 1),
                );
            }
        }
        match builder.build() {
            Ok(lines) => {
                let folder = if folder.is_empty() {
                    String::new()
                } else {
                    format!("{folder}/")
                };
                self.files.push((folder, lines));
            }
            Err(e) => findings.push(
                Finding::error("load", format!("{e}: not read, nothing in it is left out"))
                    .at(shown, 1),
            ),
        }
    }
}

/// An ignore file that is not a file of its folder (a symlink, a folder, a
/// submodule): not read, as Git does not read a `.gitignore` that is a link.
pub(super) fn not_a_file(shown: &str, what: &str) -> Finding {
    Finding::error(
        "load",
        format!(
            "{IGNORE_FILE} is {what}, not a file: not read, nothing in it is left out; \
             write the patterns into a file of this folder"
        ),
    )
    .at(shown, 1)
}

/// An ignore file over the size limit of a manifest file.
pub(super) fn too_large(shown: &str, len: u64, max: u64) -> Finding {
    Finding::error(
        "load",
        format!(
            "{IGNORE_FILE} is {len} bytes, over the {max} byte limit for a file: not read, \
             nothing in it is left out"
        ),
    )
    .at(shown, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules<'a>(exclude: &'a Exclude, files: &[(&str, &str)]) -> Rules<'a> {
        let mut rules = Rules::new(exclude);
        let mut findings = Vec::new();
        for (folder, text) in files {
            rules.enter(folder, "x", text.as_bytes(), &mut findings);
        }
        assert!(findings.is_empty(), "{findings:?}");
        rules
    }

    #[test]
    fn gitignore_syntax_negation_folders_anchors_and_double_stars() {
        let none = Exclude::default();
        let r = rules(
            &none,
            &[(
                "",
                "# comment\nvalues.yaml\n!keep/values.yaml\ncharts/\n/top.yaml\n\
                 docs/**/*.json\n",
            )],
        );
        assert!(r.excluded("values.yaml", false));
        assert!(r.excluded("apps/web/values.yaml", false), "any depth");
        assert!(!r.excluded("keep/values.yaml", false), "taken back");
        assert!(r.excluded("apps/charts", true));
        assert!(!r.excluded("apps/charts", false), "folders only");
        assert!(r.excluded("top.yaml", false));
        assert!(!r.excluded("apps/top.yaml", false), "anchored at the root");
        assert!(r.excluded("docs/a/b/x.json", false));
        assert!(r.excluded("docs/x.json", false), "** matches no folder too");
        assert!(!r.excluded("apps/docs/x.json", false), "a slash anchors");
        assert!(!r.excluded("cm.yaml", false));
    }

    #[test]
    fn a_deeper_file_decides_first_and_applies_below_its_folder_only() {
        let none = Exclude::default();
        let r = rules(
            &none,
            &[("", "*.json\n"), ("apps", "!*.json\n/local.yaml\n")],
        );
        assert!(r.excluded("x.json", false));
        assert!(!r.excluded("apps/x.json", false));
        assert!(!r.excluded("apps/web/x.json", false));
        assert!(r.excluded("apps/local.yaml", false));
        assert!(
            !r.excluded("apps/web/local.yaml", false),
            "anchored at apps/"
        );
        assert!(!r.excluded("local.yaml", false), "not above its folder");
        let mut r = r;
        r.restore(1);
        assert!(r.excluded("apps/x.json", false), "apps/ left");
    }

    #[test]
    fn the_sources_patterns_decide_before_the_files() {
        let exclude = Exclude::new(["values.yaml", "/generated/", "!ok.json"]).expect("patterns");
        let r = rules(&exclude, &[("", "*.json\n")]);
        assert!(r.excluded("values.yaml", false));
        assert!(r.excluded("a/b/values.yaml", false));
        assert!(r.excluded("generated", true));
        assert!(!r.excluded("a/generated", true));
        assert!(!r.excluded("ok.json", false));
        assert!(r.excluded("other.json", false));
        assert_eq!(
            exclude.patterns(),
            ["values.yaml", "/generated/", "!ok.json"]
        );
    }

    #[test]
    fn lines_that_are_not_patterns_are_errors_at_their_line() {
        let none = Exclude::default();
        let mut r = Rules::new(&none);
        let mut findings = Vec::new();
        r.enter(
            "apps",
            "apps/.mooringignore",
            b"ok.yaml\n\nbad{a\n",
            &mut findings,
        );
        let shown: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0]
                == "apps/.mooringignore:3: \"bad{a\" is not a pattern: unclosed alternate \
                    group; missing '}' (maybe escape '{' with '[{]'?); the line is left out",
            "{shown:?}"
        );
        assert!(r.excluded("apps/ok.yaml", false), "the other lines hold");
        r.enter("", "x", b"\xff\n", &mut findings);
        assert!(findings[1].to_string().contains("is not UTF-8"));
    }

    #[test]
    fn source_patterns_are_checked() {
        assert!(check_pattern("charts/**/values.yaml").is_ok());
        assert_eq!(
            check_pattern(" ").expect_err("empty"),
            "an empty pattern excludes nothing"
        );
        assert!(
            check_pattern("#x")
                .expect_err("comment")
                .contains("a comment")
        );
        assert_eq!(
            check_pattern("[z-a]").expect_err("range"),
            "invalid range; 'z' > 'a'"
        );
        let err = Exclude::new(["ok", "{a"]).expect_err("bad");
        assert!(
            err.to_string().starts_with("exclude pattern `{a`: "),
            "{err}"
        );
    }
}
