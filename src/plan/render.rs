//! Plan output: text for terminals and logs, JSON for programs, Markdown
//! for pull-request comments.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
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
    /// The Git revision of each side, when it is one (`None` for live
    /// targets and a work tree).
    pub from_revision: Option<RevisionRef>,
    pub to_revision: Option<RevisionRef>,
}

/// A Git revision as it was named and the commit it resolved to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RevisionRef {
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: String,
}

/// The `apiVersion` of mooring's JSON documents (`plan`, `apply` and
/// `validate` with `-o json`); their JSON Schemas are under
/// `schemas/output/`.
pub const OUTPUT_API_VERSION: &str = "mooring.dev/v1";

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

/// Whether text is painted with ANSI styles: additions green, deletions
/// red, replaces and conflicts highlighted. The caller decides (a
/// terminal, `--color`, `NO_COLOR`); the library never looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Plain,
    Ansi,
}

impl Paint {
    /// `text` in `style`, or as it is when plain.
    pub fn paint(self, style: Style, text: &str) -> String {
        match self {
            Paint::Plain => text.to_string(),
            Paint::Ansi => format!("{style}{text}{style:#}"),
        }
    }
}

/// The style of an action's symbol and verb.
pub fn action_style(action: Action) -> Style {
    let colour = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match action {
        Action::Create => colour(AnsiColor::Green),
        Action::Update => colour(AnsiColor::Yellow),
        Action::Replace => colour(AnsiColor::Magenta).bold(),
        Action::Delete => colour(AnsiColor::Red),
        Action::Unchanged | Action::Declared => Style::new().dimmed(),
    }
}

/// A unified diff with its added lines green, removed lines red and hunk
/// headers cyan.
fn painted_diff(diff: &str, paint: Paint) -> String {
    if paint == Paint::Plain {
        return diff.to_string();
    }
    let colour = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let style = if body.starts_with("+++") || body.starts_with("---") {
            Style::new().bold()
        } else if body.starts_with('+') {
            colour(AnsiColor::Green)
        } else if body.starts_with('-') {
            colour(AnsiColor::Red)
        } else if body.starts_with("@@") {
            colour(AnsiColor::Cyan)
        } else {
            out.push_str(line);
            continue;
        };
        out.push_str(&paint.paint(style, body));
        out.push_str(end);
    }
    out
}

/// The remark's style: a refusal red, a conflict yellow.
fn remark_style(remark: &str) -> Style {
    let colour = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    if remark.starts_with("not applied:") {
        colour(AnsiColor::Red)
    } else if remark.starts_with("conflict:") {
        colour(AnsiColor::Yellow).bold()
    } else {
        Style::new()
    }
}

/// The plan as text, unpainted (logs, files, tests).
pub fn text(plan: &Plan, sides: &Sides, findings: &[Finding]) -> String {
    text_painted(plan, sides, findings, Paint::Plain)
}

/// The plan as text for a terminal: [`text`], painted when `paint` says so.
pub fn text_painted(plan: &Plan, sides: &Sides, findings: &[Finding], paint: Paint) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{f}");
    }
    let _ = writeln!(
        out,
        "Plan {} → {}: {}",
        sides.from,
        sides.to,
        paint.paint(Style::new().bold(), &headline(plan, sides))
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
            "\n{} {}  ({})",
            paint.paint(
                action_style(c.action),
                &format!("{} {}", c.action.symbol(), c.action.verb())
            ),
            paint.paint(Style::new().bold(), &object(c)),
            place(c)
        );
        for r in remarks(c) {
            let _ = writeln!(out, "  {}", paint.paint(remark_style(&r), &r));
        }
        out.push_str(&painted_diff(&c.diff, paint));
    }
    out
}

/// One side of a plan in JSON: its label, and its `ref` and `commit` when
/// it is a Git revision.
#[derive(Serialize)]
pub struct Side<'a> {
    pub label: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub revision: Option<&'a RevisionRef>,
}

impl Sides {
    /// The current side, as JSON documents show it.
    pub fn from_side(&self) -> Side<'_> {
        Side {
            label: &self.from,
            revision: self.from_revision.as_ref(),
        }
    }

    /// The desired side, as JSON documents show it.
    pub fn to_side(&self) -> Side<'_> {
        Side {
            label: &self.to,
            revision: self.to_revision.as_ref(),
        }
    }
}

/// The plan as a JSON document (`kind: Plan`, schema
/// `schemas/output/Plan.json`); unchanged objects only with
/// `show_unchanged` (the summary counts them either way).
pub fn json(plan: &Plan, sides: &Sides, findings: &[Finding], show_unchanged: bool) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        api_version: &'static str,
        kind: &'static str,
        headline: String,
        /// False when a target could not be read.
        complete: bool,
        unobserved: &'a [Unobserved],
        from: Side<'a>,
        to: Side<'a>,
        summary: &'a super::Summary,
        changes: Vec<&'a super::Change>,
        findings: &'a [Finding],
    }
    let doc = Doc {
        api_version: OUTPUT_API_VERSION,
        kind: "Plan",
        headline: headline(plan, sides),
        complete: sides.complete(),
        unobserved: &sides.unobserved,
        from: sides.from_side(),
        to: sides.to_side(),
        summary: &plan.summary,
        changes: plan
            .changes
            .iter()
            .filter(|c| show_unchanged || c.action != Action::Unchanged)
            .collect(),
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

/// GitHub's limit on a pull-request comment is 65,536 characters; this
/// leaves room for a marker line a CI step adds.
pub const COMMENT_LIMIT: usize = 65_000;

/// [`markdown`], cut to at most `limit` bytes (a pull-request comment's
/// size): the headline, the findings and the summary table are kept (the
/// findings and the table themselves cut, with a count, only when they
/// alone do not fit), then per-object diffs in plan order while they fit.
/// A note says how many diffs were left out and where the whole plan is:
/// `full`, the file `--output-file` wrote, when there is one.
pub fn markdown_within(
    plan: &Plan,
    sides: &Sides,
    findings: &[Finding],
    limit: usize,
    full: Option<&str>,
) -> String {
    let whole = markdown(plan, sides, findings);
    if whole.len() <= limit {
        return whole;
    }
    let changed: Vec<&super::Change> = plan.changes.iter().filter(|c| shown(c)).collect();
    let with_diff = changed.iter().filter(|c| !c.diff.is_empty()).count();
    let note = |left_out: usize, rows_left_out: usize, findings_left_out: usize| {
        let mut parts = Vec::new();
        if findings_left_out > 0 {
            parts.push(format!("{findings_left_out} finding(s)"));
        }
        if rows_left_out > 0 {
            parts.push(format!("{rows_left_out} row(s) of the table"));
        }
        if left_out > 0 {
            parts.push(format!("{left_out} of {with_diff} diff(s)"));
        }
        let whole_plan = match full {
            Some(path) => format!("the whole plan is in `{}`", html_escape(path)),
            None => "run `mooring plan` with `--output-file FILE` to keep the whole plan (as a CI artifact)"
                .to_string(),
        };
        format!(
            "\n> **{} left out** to keep this under {limit} bytes; {whole_plan}.\n",
            parts.join(", ")
        )
    };
    // Room kept for the note, whatever it ends up saying.
    let reserve = note(with_diff, changed.len(), findings.len()).len() + 64;
    let budget = limit.saturating_sub(reserve);

    let mut out = markdown_head(plan, sides);
    // Findings: errors first, as many as fit in half the budget.
    let mut kept_findings = Vec::new();
    let mut findings_left_out = 0;
    let mut ordered: Vec<&Finding> = findings.iter().filter(|f| f.is_error()).collect();
    ordered.extend(findings.iter().filter(|f| !f.is_error()));
    let mut used = out.len();
    for f in ordered {
        let line = f.to_string().len() + 8;
        if used + line > budget / 2 {
            findings_left_out += 1;
        } else {
            used += line;
            kept_findings.push(f.clone());
        }
    }
    markdown_findings(&mut out, &kept_findings);
    let mut rows_left_out = 0;
    if !changed.is_empty() {
        let _ = writeln!(out, "| Action | Object | Declared in |");
        let _ = writeln!(out, "| --- | --- | --- |");
        for c in &changed {
            let row = table_row(c);
            if out.len() + row.len() > budget {
                rows_left_out += 1;
            } else {
                out.push_str(&row);
            }
        }
        out.push('\n');
    }
    let mut left_out = 0;
    for c in changed.iter().filter(|c| !c.diff.is_empty()) {
        let section = diff_section(c);
        if left_out > 0 || out.len() + section.len() > budget {
            left_out += 1;
        } else {
            out.push_str(&section);
        }
    }
    out.push_str(&note(left_out, rows_left_out, findings_left_out));
    out
}

/// The comment's heading: the headline and what was compared.
fn markdown_head(plan: &Plan, sides: &Sides) -> String {
    format!(
        "### mooring plan: {}\n\nComparing `{}` (current) with `{}` (desired).\n\n",
        headline(plan, sides),
        sides.from,
        sides.to
    )
}

/// One row of the summary table.
fn table_row(c: &super::Change) -> String {
    format!(
        "| {} {} | `{}` | `{}` |\n",
        c.action.symbol(),
        c.action.verb(),
        object(c),
        place(c)
    )
}

/// One object's folded diff, with its remarks.
fn diff_section(c: &super::Change) -> String {
    let mut out = String::new();
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
    out
}

pub fn markdown(plan: &Plan, sides: &Sides, findings: &[Finding]) -> String {
    let mut out = markdown_head(plan, sides);
    markdown_findings(&mut out, findings);
    let changed: Vec<_> = plan.changes.iter().filter(|c| shown(c)).collect();
    if changed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "| Action | Object | Declared in |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for c in &changed {
        out.push_str(&table_row(c));
    }
    out.push('\n');
    for c in changed.iter().filter(|c| !c.diff.is_empty()) {
        out.push_str(&diff_section(c));
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
            json(&plan, &sides, &[], false),
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
    fn painted_text_is_the_plain_text_with_styles() {
        let change = |action, name: &str, diff: &str, notes: Vec<String>| super::super::Change {
            action,
            id: crate::manifest::ObjectId {
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: name.into(),
                ..Default::default()
            },
            api_version: "v1".into(),
            file: "cm.yaml".into(),
            line: 1,
            diff: diff.into(),
            backend: String::new(),
            blocked: None,
            notes,
            handle: None,
            health: None,
        };
        let plan = Plan::from_changes(vec![
            change(Action::Create, "a", "+data: 1\n", vec![]),
            change(
                Action::Update,
                "b",
                "@@ -1 +1 @@\n-level: debug\n+level: info\n",
                vec!["conflict: kubectl-edit owns .data.level; apply will fail unless forceConflicts".into()],
            ),
            change(Action::Replace, "c", "", vec![]),
        ]);
        let sides = Sides::default();
        let plain = text(&plan, &sides, &[]);
        let painted = text_painted(&plan, &sides, &[], Paint::Ansi);
        assert!(!plain.contains('\u{1b}'));
        assert_ne!(plain, painted);
        let stripped: String = anstream::adapter::strip_str(&painted).to_string();
        assert_eq!(stripped, plain, "colour adds styles and nothing else");
        let green = "\u{1b}[32m";
        let red = "\u{1b}[31m";
        assert!(
            painted.contains(&format!("{green}+ create\u{1b}[0m")),
            "{painted:?}"
        );
        assert!(
            painted.contains(&format!("{green}+level: info")),
            "{painted:?}"
        );
        assert!(
            painted.contains(&format!("{red}-level: debug")),
            "{painted:?}"
        );
        assert!(
            painted.contains("\u{1b}[1m\u{1b}[35m± replace"),
            "{painted:?}"
        );
        assert!(
            painted.contains("\u{1b}[1m\u{1b}[33mconflict: kubectl-edit"),
            "{painted:?}"
        );
    }

    /// 300 changed ConfigMaps: the whole comment is far over GitHub's
    /// limit; the cut one is under it, keeps every row of the table and as
    /// many diffs as fit, and says how many it left out and where the whole
    /// plan is.
    #[test]
    fn a_large_plan_fits_a_comment_with_its_whole_table() {
        let diff: String = (0..20)
            .map(|i| format!("-  key{i}: old-value-{i}\n+  key{i}: new-value-{i}\n"))
            .collect();
        let changes = (0..300)
            .map(|i| super::super::Change {
                action: Action::Update,
                id: crate::manifest::ObjectId {
                    kind: "ConfigMap".into(),
                    namespace: Some("shop".into()),
                    name: format!("settings-{i:03}"),
                    ..Default::default()
                },
                api_version: "v1".into(),
                file: format!("deploy/cm-{i:03}.yaml"),
                line: 1,
                diff: format!("--- a\n+++ b\n@@ -1,20 +1,20 @@\n{diff}"),
                backend: String::new(),
                blocked: None,
                notes: vec![],
                handle: None,
                health: None,
            })
            .collect();
        let plan = Plan::from_changes(changes);
        let sides = Sides::default();
        let findings: Vec<Finding> = (0..3000)
            .map(|i| Finding::warning("schema", format!("warning number {i}")).at("a.yaml", i))
            .collect();
        let whole = markdown(&plan, &sides, &findings);
        assert!(whole.len() > 4 * COMMENT_LIMIT, "{}", whole.len());

        let cut = markdown_within(
            &plan,
            &sides,
            &findings,
            COMMENT_LIMIT,
            Some("plan-full.md"),
        );
        assert!(cut.len() <= COMMENT_LIMIT, "{}", cut.len());
        assert!(cut.starts_with("### mooring plan: 0 to create, 300 to update"));
        let kept = cut.matches("<details><summary>~ update").count();
        assert!(kept > 10, "as many diffs as fit: {kept}");
        let note = cut.lines().last().unwrap();
        assert!(note.starts_with("> **"), "{note}");
        assert!(
            note.contains(&format!("{} of 300 diff(s)", 300 - kept)),
            "{note}"
        );
        assert!(note.contains("finding(s)"), "{note}");
        assert!(
            note.ends_with("the whole plan is in `plan-full.md`."),
            "{note}"
        );
        assert!(
            !note.contains("row(s)"),
            "every row of the table is kept: {note}"
        );
        assert_eq!(
            cut.matches("| ~ update | `ConfigMap/shop/settings-")
                .count(),
            300
        );

        // Without --output-file, the note says how to keep the whole plan.
        let cut = markdown_within(&plan, &sides, &[], 20_000, None);
        assert!(cut.len() <= 20_000);
        assert!(
            cut.contains("row(s) of the table"),
            "a 20 KB limit cuts rows too"
        );
        assert!(cut.contains("with `--output-file FILE` to keep the whole plan"));
        // A plan that fits is the whole plan.
        let small = Plan::from_changes(plan.changes[..2].to_vec());
        assert_eq!(
            markdown_within(&small, &sides, &[], COMMENT_LIMIT, None),
            markdown(&small, &sides, &[])
        );
    }

    #[test]
    fn fences_outgrow_backticks_in_the_body() {
        assert_eq!(fence("plain"), "```");
        assert_eq!(fence("a ```` b"), "`````");
    }
}
