//! Findings: the one shape every problem takes, from a YAML syntax error to a
//! policy violation, so that every command reports them the same way.

use std::fmt;

use serde::Serialize;

/// How bad a finding is. Errors fail the command; warnings are printed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where a finding points: a file (as given on the command line or as the
/// path inside the Git tree) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Where the problem is; `None` only for problems with no file (a missing
    /// policy directory, say).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The object, as `Kind/namespace/name` (or `Kind/name`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The field, as a dotted path such as `spec.interfaces[0].guestMac`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// What produced it: `yaml`, `load`, `schema`, `rule`, or `policy:<name>`.
    pub source: String,
}

impl Finding {
    pub fn error(source: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            location: None,
            object: None,
            field: None,
            message: message.into(),
            source: source.into(),
        }
    }

    pub fn warning(source: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(source, message)
        }
    }

    pub fn at(mut self, file: impl Into<String>, line: usize) -> Self {
        self.location = Some(Location {
            file: file.into(),
            line,
        });
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !field.is_empty() {
            self.field = Some(field);
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `file:line: Kind/ns/name: field.path: message`, leaving out the parts that
/// are unknown. Warnings say so; errors are the default and need no prefix.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Finding {
    /// The finding as a GitHub Actions workflow command, which the run shows
    /// as an annotation on the file and line of the pull request:
    /// `::error file=deploy/app.yaml,line=7,title=schema::ConfigMap/…: …`.
    pub fn github_annotation(&self) -> String {
        // Workflow commands escape `%`, CR and LF in the message, and also
        // `:` and `,` in properties.
        let data = |s: &str| {
            s.replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
        };
        let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = Vec::new();
        if let Some(loc) = &self.location {
            properties.push(format!("file={}", property(&loc.file)));
            properties.push(format!("line={}", loc.line.max(1)));
        }
        properties.push(format!("title={}", property(&self.source)));
        format!(
            "::{level} {}::{}",
            properties.join(","),
            data(&self.without_place())
        )
    }

    /// `object: field: message`, the finding without its file and line
    /// (an annotation's or a report's text, where the place is given apart).
    pub fn without_place(&self) -> String {
        let mut message = String::new();
        if let Some(object) = &self.object {
            message.push_str(object);
            message.push_str(": ");
        }
        if let Some(field) = &self.field {
            message.push_str(field);
            message.push_str(": ");
        }
        message.push_str(&self.message);
        message
    }
}

/// Orders findings by file, line, then errors before warnings, so output is
/// deterministic whatever order parallel validation produced them in.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then(a.severity.cmp(&b.severity))
            .then(a.field.cmp(&b.field))
            .then(a.message.cmp(&b.message))
    });
}

/// Most findings printed as text for one file; JSON output keeps them all.
pub const TEXT_PER_FILE: usize = 100;

/// The text lines of `findings` (sorted), at most [`TEXT_PER_FILE`] per file,
/// each file's excess replaced by one line saying how many more there are,
/// so that a broken generated file cannot bury everything else.
pub fn text_lines(findings: &[Finding]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < findings.len() {
        let file = findings[i].location.as_ref().map(|l| &l.file);
        let end = findings[i..]
            .iter()
            .position(|f| f.location.as_ref().map(|l| &l.file) != file)
            .map_or(findings.len(), |n| i + n);
        let group = &findings[i..end];
        out.extend(group.iter().take(TEXT_PER_FILE).map(Finding::to_string));
        if group.len() > TEXT_PER_FILE {
            let rest = &group[TEXT_PER_FILE..];
            let errors = rest.iter().filter(|f| f.is_error()).count();
            out.push(format!(
                "{}: {} more findings in this file ({errors} errors, {} warnings); \
                 -o json lists them all",
                file.map_or("(no file)", String::as_str),
                rest.len(),
                rest.len() - errors
            ));
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_output_is_capped_per_file() {
        let mut findings: Vec<Finding> = (1..=130)
            .map(|n| {
                let f = if n % 10 == 0 {
                    Finding::warning("yaml", "w")
                } else {
                    Finding::error("yaml", "e")
                };
                f.at("big.yaml", n)
            })
            .collect();
        findings.push(Finding::error("yaml", "e").at("other.yaml", 1));
        let lines = text_lines(&findings);
        assert_eq!(lines.len(), 102);
        assert_eq!(lines[99], "big.yaml:100: warning: w");
        assert_eq!(
            lines[100],
            "big.yaml: 30 more findings in this file (27 errors, 3 warnings); -o json lists them all"
        );
        assert_eq!(lines[101], "other.yaml:1: e");
    }

    #[test]
    fn a_github_annotation_escapes_what_workflow_commands_read() {
        let f = Finding::error("policy:no-hostpath", "100% wrong,\nreally")
            .at("deploy/a,b.yaml", 7)
            .object("Pod/shop/web")
            .field("spec.volumes[0]");
        assert_eq!(
            f.github_annotation(),
            "::error file=deploy/a%2Cb.yaml,line=7,title=policy%3Ano-hostpath::Pod/shop/web: spec.volumes[0]: 100%25 wrong,%0Areally"
        );
        let w = Finding::warning("yaml", "no file");
        assert_eq!(w.github_annotation(), "::warning title=yaml::no file");
    }
}
