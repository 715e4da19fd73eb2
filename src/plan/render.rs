//! Plan output: text for terminals and logs, JSON for programs, Markdown
//! for pull-request comments.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Action, Plan};
use crate::finding::Finding;

/// What the plan compared, for headers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sides {
    /// The current side, e.g. `main (1a2b3c4d5e)`.
    pub from: String,
    /// The desired side, e.g. `HEAD (9f8e7d6c5b)` or `work tree`.
    pub to: String,
    /// Targets that could not be read: the plan says nothing about them,
    /// and its headline says it is incomplete.
    pub unobserved: Vec<Unobserved>,
    /// Desired objects left out of the plan by an error (no target handles
    /// them, declared twice): the headline says it is incomplete too.
    pub unplanned: usize,
}

/// A target that could not be read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unobserved {
    pub target: String,
    pub error: String,
}

impl Sides {
    /// Whether every target was read and every object planned: only then
    /// can a plan say "no changes".
    pub fn complete(&self) -> bool {
        self.unobserved.is_empty() && self.unplanned == 0
    }
}

fn counts(plan: &Plan) -> String {
    let s = &plan.summary;
    let replace = if s.replace > 0 {
        format!("{} to replace, ", s.replace)
    } else {
        String::new()
    };
    format!(
        "{} to create, {} to update, {replace}{} to delete, {} unchanged",
        s.create, s.update, s.delete, s.unchanged
    )
}

/// The one-line verdict every format leads with. "no changes" only when
/// every target was read; otherwise it says the plan is incomplete and
/// which targets it is missing.
pub fn headline(plan: &Plan, sides: &Sides) -> String {
    let s = &plan.summary;
    let mut extra = String::new();
    if s.declared > 0 {
        let _ = write!(extra, ", {} declared", s.declared);
    }
    if s.blocked > 0 {
        let _ = write!(extra, ", {} refused (drift left alone)", s.blocked);
    }
    if !sides.complete() {
        let mut missing = Vec::new();
        if !sides.unobserved.is_empty() {
            let names: Vec<&str> = sides.unobserved.iter().map(|u| u.target.as_str()).collect();
            missing.push(format!(
                "{} could not be read, nothing of it is planned",
                names.join(", ")
            ));
        }
        if sides.unplanned > 0 {
            missing.push(format!(
                "{} object(s) could not be planned (see the errors)",
                sides.unplanned
            ));
        }
        format!(
            "INCOMPLETE: {}; on what was read: {}{extra}",
            missing.join("; "),
            counts(plan)
        )
    } else if plan.has_changes() {
        format!("{}{extra}", counts(plan))
    } else {
        format!("no changes ({} unchanged{extra})", s.unchanged)
    }
}

/// `Kind/ns/name`, with the backend when there is one.
fn object(c: &super::Change) -> String {
    if c.backend.is_empty() {
        c.id.to_string()
    } else {
        format!("{} [{}]", c.id, c.backend)
    }
}

/// `file:line`, or just where a live-only object lives.
fn place(c: &super::Change) -> String {
    if c.line == 0 {
        c.file.clone()
    } else {
        format!("{}:{}", c.file, c.line)
    }
}

/// Lines shown under an object's heading: why it is blocked, its notes.
fn remarks(c: &super::Change) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = &c.blocked {
        out.push(format!("not applied: {why}"));
    }
    out.extend(c.notes.iter().cloned());
    out
}

pub fn text(plan: &Plan, sides: &Sides, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{f}");
    }
    let _ = writeln!(
        out,
        "Plan {} → {}: {}",
        sides.from,
        sides.to,
        headline(plan, sides)
    );
    let declared: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Declared)
        .collect();
    if !declared.is_empty() {
        let _ = writeln!(out, "\nDeclared, nothing to apply:");
        for c in declared {
            let _ = writeln!(out, "  {} {}  ({})", c.action.symbol(), object(c), place(c));
        }
    }
    for c in plan
        .changes
        .iter()
        .filter(|c| shown(c) && c.action != Action::Declared)
    {
        let _ = writeln!(
            out,
            "\n{} {} {}  ({})",
            c.action.symbol(),
            c.action.verb(),
            object(c),
            place(c)
        );
        for r in remarks(c) {
            let _ = writeln!(out, "  {r}");
        }
        out.push_str(&c.diff);
    }
    out
}

pub fn json(plan: &Plan, sides: &Sides, findings: &[Finding]) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        headline: String,
        /// False when a target could not be read.
        complete: bool,
        unobserved: &'a [Unobserved],
        from: &'a str,
        to: &'a str,
        summary: &'a super::Summary,
        changes: &'a [super::Change],
        findings: &'a [Finding],
    }
    let doc = Doc {
        headline: headline(plan, sides),
        complete: sides.complete(),
        unobserved: &sides.unobserved,
        from: &sides.from,
        to: &sides.to,
        summary: &plan.summary,
        changes: &plan.changes,
        findings,
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Whether an object gets its own section: changes, refused changes and
/// declarations; unchanged objects only when something is noted about them.
fn shown(c: &super::Change) -> bool {
    c.action != Action::Unchanged || !c.notes.is_empty()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fence longer than any run of backticks in `body`.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Findings as Markdown: errors listed in the open, then warnings folded.
fn markdown_findings(out: &mut String, findings: &[Finding]) {
    let (errors, warnings): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.is_error());
    if !errors.is_empty() {
        let _ = writeln!(out, "**{} error(s):**\n", errors.len());
        for f in errors {
            let _ = writeln!(out, "- {}", html_escape(&f.to_string()));
        }
        out.push('\n');
    }
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} warning(s)</summary>\n",
            warnings.len()
        );
        for f in warnings {
            let _ = writeln!(out, "- {}", html_escape(&f.to_string()));
        }
        let _ = writeln!(out, "\n</details>\n");
    }
}

/// The pull-request comment when no plan was made because the desired
/// side is invalid: `why`, then the findings, errors first.
pub fn markdown_invalid(why: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### mooring plan: not made, the manifests are invalid\n"
    );
    let _ = writeln!(out, "{}\n", html_escape(why));
    markdown_findings(&mut out, findings);
    out
}

pub fn markdown(plan: &Plan, sides: &Sides, findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### mooring plan: {}\n", headline(plan, sides));
    let _ = writeln!(
        out,
        "Comparing `{}` (current) with `{}` (desired).\n",
        sides.from, sides.to
    );
    markdown_findings(&mut out, findings);
    let changed: Vec<_> = plan.changes.iter().filter(|c| shown(c)).collect();
    if changed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "| Action | Object | Declared in |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for c in &changed {
        let _ = writeln!(
            out,
            "| {} {} | `{}` | `{}` |",
            c.action.symbol(),
            c.action.verb(),
            object(c),
            place(c)
        );
    }
    out.push('\n');
    for c in changed.iter().filter(|c| !c.diff.is_empty()) {
        let f = fence(&c.diff);
        let _ = writeln!(
            out,
            "<details><summary>{} {} <code>{}</code></summary>\n\n{f}diff\n{}{f}\n\n</details>\n",
            c.action.symbol(),
            c.action.verb(),
            html_escape(&object(c)),
            c.diff
        );
        for r in remarks(c) {
            let _ = writeln!(out, "> {}\n", html_escape(&r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_plan_says_no_changes() {
        let plan = Plan::default();
        let mut sides = Sides::default();
        assert!(headline(&plan, &sides).starts_with("no changes"));
        sides.unobserved.push(Unobserved {
            target: "flintlock".into(),
            error: "connection refused".into(),
        });
        for out in [
            headline(&plan, &sides),
            text(&plan, &sides, &[]),
            json(&plan, &sides, &[]),
            markdown(&plan, &sides, &[]),
        ] {
            assert!(
                out.contains("INCOMPLETE: flintlock could not be read"),
                "{out}"
            );
            assert!(!out.contains("no changes"), "{out}");
        }
        let sides = Sides {
            unplanned: 2,
            ..Sides::default()
        };
        assert_eq!(
            headline(&plan, &sides),
            "INCOMPLETE: 2 object(s) could not be planned (see the errors); on what was read: \
             0 to create, 0 to update, 0 to delete, 0 unchanged"
        );
    }

    #[test]
    fn fences_outgrow_backticks_in_the_body() {
        assert_eq!(fence("plain"), "```");
        assert_eq!(fence("a ```` b"), "`````");
    }
}
