//! CI report formats, written with well-kept crates: JUnit XML
//! (`quick-junit`, nextest's writer) for test tabs, one test case per
//! object; SARIF 2.1.0 (`serde-sarif`) for code scanning, one result per
//! finding with its rule (the finding's source: `schema`, `rule`,
//! `policy:<name>`, ...).

use std::collections::BTreeMap;

use mooring::finding::{Finding, Severity};
use mooring::plan::{Action, Plan};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_sarif::sarif;

/// A test case named `name` in class `class`: failed with its error
/// findings, their text the failure's; warnings in its output.
fn case(name: &str, class: &str, findings: &[&Finding], output: Option<String>) -> TestCase {
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect();
    let status = if errors.is_empty() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(
                findings
                    .iter()
                    .find(|f| f.severity == Severity::Error)
                    .map(|f| f.without_place())
                    .unwrap_or_default(),
            )
            .set_type("error")
            .set_description(errors.join("\n"));
        status
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(class);
    let warnings: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.to_string())
        .collect();
    let mut out = output.unwrap_or_default();
    if !warnings.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&warnings.join("\n"));
    }
    if !out.is_empty() {
        case.set_system_out(out);
    }
    case
}

/// Findings grouped by what they are about.
type Grouped<'a, K> = BTreeMap<K, Vec<&'a Finding>>;

/// Findings by the object they name; those naming none (a YAML error, a
/// file that does not read) by their file.
fn by_object(findings: &[Finding]) -> (Grouped<'_, &str>, Grouped<'_, String>) {
    let mut objects: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    let mut files: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        match &f.object {
            Some(o) => objects.entry(o.as_str()).or_default().push(f),
            None => files
                .entry(
                    f.location
                        .as_ref()
                        .map_or_else(String::new, |l| l.file.clone()),
                )
                .or_default()
                .push(f),
        }
    }
    (objects, files)
}

/// The findings no object case took, one case per file (`(no file)` for
/// findings with none).
fn file_cases(suite: &mut TestSuite, files: Grouped<'_, String>) {
    for (file, findings) in files {
        let name = if file.is_empty() {
            "(no file)"
        } else {
            file.as_str()
        };
        suite.add_test_case(case(name, name, &findings, None));
    }
}

fn junit(suite: TestSuite) -> anyhow::Result<String> {
    let mut report = Report::new("mooring");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

/// `validate -o junit`: one test case per object (failed by its errors),
/// then one per file for findings that name no object.
pub fn validate_junit(
    objects: &[(String, String, usize)],
    findings: &[Finding],
) -> anyhow::Result<String> {
    let (mut by_object, files) = by_object(findings);
    let mut suite = TestSuite::new("mooring validate");
    for (object, file, line) in objects {
        let mine = by_object.remove(object.as_str()).unwrap_or_default();
        let mut c = case(object, file, &mine, None);
        c.add_property(quick_junit::Property::new("line", line.to_string()));
        suite.add_test_case(c);
    }
    // Findings naming an object that was not loaded (a duplicate, a
    // document that did not parse into one).
    for (object, findings) in by_object {
        let file = findings
            .first()
            .and_then(|f| f.location.as_ref())
            .map_or_else(String::new, |l| l.file.clone());
        suite.add_test_case(case(object, &file, &findings, None));
    }
    file_cases(&mut suite, files);
    junit(suite)
}

/// `plan -o junit`: one test case per object of the plan (unchanged ones
/// only with `show_unchanged`), its action and diff in its output; failed
/// when the change is refused or its object has errors. Then one per file
/// for findings that name no object.
pub fn plan_junit(
    plan: &Plan,
    findings: &[Finding],
    show_unchanged: bool,
) -> anyhow::Result<String> {
    let (mut by_object, files) = by_object(findings);
    let mut suite = TestSuite::new("mooring plan");
    for c in plan
        .changes
        .iter()
        .filter(|c| show_unchanged || c.action != Action::Unchanged || c.blocked.is_some())
    {
        let object = c.id.to_string();
        let mine = by_object.remove(object.as_str()).unwrap_or_default();
        let name = if c.backend.is_empty() {
            object.clone()
        } else {
            format!("{object} [{}]", c.backend)
        };
        let mut output = format!("{} {}", c.action.symbol(), c.action.verb());
        for note in &c.notes {
            output.push_str(&format!("\n{note}"));
        }
        if !c.diff.is_empty() {
            output.push('\n');
            output.push_str(&c.diff);
        }
        let mut case = case(&name, &c.file, &mine, Some(output));
        if let Some(why) = &c.blocked {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!("not applied: {why}"))
                .set_type("refused");
            case.status = status;
        } else if c.action == Action::Declared {
            case.status = TestCaseStatus::skipped();
        }
        suite.add_test_case(case);
    }
    file_cases(&mut suite, files);
    junit(suite)
}

/// `-o sarif`: SARIF 2.1.0, one run of the tool `mooring`, one result per
/// finding, each with its rule (the finding's source) and place.
pub fn sarif(findings: &[Finding]) -> anyhow::Result<String> {
    let mut rule_index: BTreeMap<&str, i64> = BTreeMap::new();
    for f in findings {
        let next = i64::try_from(rule_index.len()).unwrap_or(i64::MAX);
        rule_index.entry(f.source.as_str()).or_insert(next);
    }
    let mut rules: Vec<(&str, i64)> = rule_index.iter().map(|(k, v)| (*k, *v)).collect();
    rules.sort_by_key(|(_, i)| *i);
    let rules: Vec<sarif::ReportingDescriptor> = rules
        .into_iter()
        .map(|(id, _)| {
            sarif::ReportingDescriptor::builder()
                .id(id)
                .short_description(&rule_description(id))
                .build()
        })
        .collect();
    let results: Vec<sarif::Result> = findings
        .iter()
        .map(|f| {
            let level = match f.severity {
                Severity::Error => sarif::ResultLevel::Error,
                Severity::Warning => sarif::ResultLevel::Warning,
            };
            let index = rule_index.get(f.source.as_str()).copied().unwrap_or(0);
            let locations: Vec<sarif::Location> = f
                .location
                .iter()
                .map(|l| {
                    sarif::Location::builder()
                        .physical_location(
                            sarif::PhysicalLocation::builder()
                                .artifact_location(
                                    sarif::ArtifactLocation::builder().uri(&l.file).build(),
                                )
                                .region(
                                    sarif::Region::builder()
                                        .start_line(i64::try_from(l.line.max(1)).unwrap_or(1))
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                })
                .collect();
            sarif::Result::builder()
                .rule_id(&f.source)
                .rule_index(index)
                .level(level)
                .message(&f.without_place())
                .locations(locations)
                .build()
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name("mooring")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .build();
    let log = sarif::Sarif::builder()
        .schema(sarif::SCHEMA_URL)
        .version(sarif::Version::V2_1_0.to_string())
        .runs(vec![run])
        .build();
    let mut text = serde_json::to_string_pretty(&log)?;
    text.push('\n');
    Ok(text)
}

/// What a finding's source means, for the SARIF rule.
fn rule_description(source: &str) -> String {
    match source {
        "yaml" => "The file is valid YAML".into(),
        "load" => "The document is a Kubernetes-style object mooring can read".into(),
        "schema" => "The object matches its kind's JSON Schema".into(),
        "rule" => "The object follows its upstream project's rules".into(),
        "translate" => "The Ignite VM translates into a Flintlock microVM".into(),
        other => match other.strip_prefix("policy:") {
            Some(policy) => format!("The Rego policy `{policy}` allows the object"),
            None => format!("mooring's `{other}` check"),
        },
    }
}
