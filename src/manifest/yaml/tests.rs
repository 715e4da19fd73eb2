use super::*;
use crate::manifest::text::MAX_CHARACTER_ERRORS;

fn one(text: &str) -> Document {
    let (mut docs, errors) = parse_stream(text, &Limits::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

#[test]
fn scalars_resolve_by_the_core_schema() {
    let (docs, notes) = parse_stream(
        "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: yes\nh: 0x1F\ni: 1e3\nj: 08\n",
        &Limits::default(),
    );
    assert!(notes.iter().all(|n| n.warning), "{notes:?}");
    assert_eq!(notes.len(), 2, "yes and 08 surprise YAML 1.1 readers");
    let d = &docs[0];
    assert_eq!(
        d.value,
        serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1",
                           "g": "yes", "h": 31, "i": 1000.0, "j": 8})
    );
}

#[test]
fn lines_point_at_keys_and_items() {
    let d = one("apiVersion: v1\nspec:\n  list:\n    - a\n    - name: b\n      x: 1\n");
    assert_eq!(d.lines.line_of("/spec"), Some(2));
    assert_eq!(d.lines.line_of("/spec/list/1"), Some(5));
    assert_eq!(d.lines.line_of("/spec/list/1/x"), Some(6));
    assert_eq!(d.lines.line_of("/spec/list/1/missing"), Some(5));
    assert_eq!(d.line, 1);
}

/// Keys holding `/` and `~` are found by their escaped pointers, keys that
/// resolve (`~`, `0x1`) by their JSON text, and the root by `""`.
#[test]
fn lines_are_found_by_escaped_and_resolved_keys() {
    let d = one(
        "metadata:\n  annotations:\n    example.com/a~b: x\n    plain: w\nspec:\n  ~: 1\n  0x1:\n    - z\n",
    );
    let lines = &d.lines;
    assert_eq!(lines.line_of(""), Some(1));
    assert_eq!(
        lines.line_of("/metadata/annotations/example.com~1a~0b"),
        Some(3)
    );
    assert_eq!(lines.line_of("/metadata/annotations/plain"), Some(4));
    // Unescaped, `/` splits the key: its nearest ancestor answers.
    assert_eq!(
        lines.line_of("/metadata/annotations/example.com/a~b"),
        Some(2)
    );
    assert_eq!(lines.line_of("/spec/null"), Some(6));
    assert_eq!(lines.line_of("/spec/1/0"), Some(8));
    assert_eq!(lines.line_of("/spec/1/1"), Some(7));
    assert_eq!(lines.line_of("no/leading/slash"), None);
}

#[test]
fn duplicate_keys_name_both_lines() {
    let (_, errors) = parse_stream("a: 1\nb: 2\na: 3\n", &Limits::default());
    assert_eq!(
        errors,
        vec![YamlError {
            line: 3,
            message: "duplicate key \"a\" (first defined on line 1)".into(),
            warning: false,
        }]
    );
}

#[test]
fn merge_keys_do_not_count_as_duplicates() {
    let d = one("base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n");
    assert_eq!(d.value["obj"], serde_json::json!({"x": 1, "y": 3}));
}

#[test]
fn alias_bombs_fail_fast() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let (docs, errors) = parse_stream(&text, &Limits::default());
    assert!(docs.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("more than 200000 nodes"),
        "{errors:?}"
    );
}

#[test]
fn empty_documents_are_skipped_and_lines_kept() {
    let (docs, errors) = parse_stream("---\n# nothing\n---\na: 1\n---\n", &Limits::default());
    assert!(errors.is_empty());
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].line, 4);
}

#[test]
fn tabs_are_explained() {
    let (_, errors) = parse_stream("a:\n\tb: 1\n", &Limits::default());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("tabs"), "{errors:?}");
}

#[test]
fn alias_bombs_of_long_strings_are_bounded_in_bytes() {
    let big = "x".repeat(100_000);
    let aliases = vec!["*a"; 400].join(", ");
    let text = format!("a: &a \"{big}\"\nlist: [{aliases}]\n");
    let (docs, errors) = parse_stream(&text, &Limits::default());
    assert!(docs.is_empty());
    assert_eq!(
        errors[0].message,
        "document expands to more than 33554432 bytes of text (aliases included); \
         refusing to load it (is it an alias bomb?)"
    );
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let d = one("\u{feff}apiVersion: v1\n");
    assert_eq!(d.value, serde_json::json!({"apiVersion": "v1"}));
}

#[test]
fn bad_scalars_are_reported_and_the_file_goes_on() {
    let (docs, errors) = parse_stream("a: !!int hunter2\nb: .inf\n---\nc: 1\n", &Limits::default());
    assert_eq!(docs.len(), 2);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "value tagged !!int is not an integer",
            ".inf is not representable in JSON; quote it if you meant a string"
        ]
    );
    assert!(!messages.concat().contains("hunter2"));
}

#[test]
fn infinities_are_refused() {
    let (_, errors) = parse_stream("a: .inf\n", &Limits::default());
    assert!(errors[0].message.contains("not representable in JSON"));
}

fn errors_of(text: &str) -> Vec<String> {
    parse_stream(text, &Limits::default())
        .1
        .into_iter()
        .filter(|e| !e.warning)
        .map(|e| format!("{}: {}", e.line, e.message))
        .collect()
}

#[test]
fn a_nul_byte_is_an_error_wherever_it_is() {
    let two = "a: 1\n# \0 NUL\n---\nb: 2\n";
    let (docs, _) = parse_stream(two, &Limits::default());
    assert!(
        docs.is_empty(),
        "nothing of a file with a NUL is used: {docs:?}"
    );
    assert_eq!(
        errors_of(two),
        vec![
            "2: column 3: NUL (U+0000) is not allowed in YAML; a NUL byte usually means \
             a binary or UTF-16/32 file, or a corrupted one"
        ]
    );
    assert_eq!(errors_of("a: \"x\0y\"\n")[0].split(':').next(), Some("1"));
    assert_eq!(errors_of("a: 1\n\0---\nb: 2\n").len(), 1);
    assert!(errors_of("a: 1\n---\n\0\n")[0].starts_with("3: column 1: NUL"));
}

#[test]
fn control_characters_are_errors_with_line_and_column() {
    for (c, name) in [
        ('\u{1}', "a control character (U+0001)"),
        ('\u{1b}', "a control character (U+001B)"),
        ('\u{7f}', "DEL (U+007F)"),
        ('\u{80}', "a C1 control character (U+0080)"),
        ('\u{9f}', "a C1 control character (U+009F)"),
        ('\u{fffe}', "a non-character (U+FFFE)"),
    ] {
        let errors = errors_of(&format!("a: 1\nb: x{c}y\n"));
        assert_eq!(
            errors,
            vec![format!(
                "2: column 5: {name} is not allowed in YAML; remove it, or write it as an \
                 escape in a double-quoted string"
            )]
        );
    }
    // Tab, CR, NEL and the rest of Unicode are fine.
    assert!(errors_of("a: \"x\ty\"\r\nb: \u{85}é\u{1F600}\n").is_empty());
}

#[test]
fn character_errors_are_capped_per_file() {
    let text = "a: \u{1}\n".repeat(50);
    let errors = errors_of(&text);
    assert_eq!(errors.len(), MAX_CHARACTER_ERRORS + 1);
    assert!(
        errors[MAX_CHARACTER_ERRORS].ends_with("30 more lines with characters not allowed in YAML")
    );
}

#[test]
fn tags_on_mappings_and_sequences_are_errors() {
    assert_eq!(
        errors_of("a: !vault {x: 1}\n"),
        vec!["1: unsupported YAML tag !vault on a mapping (mooring reads plain YAML only)"]
    );
    assert_eq!(
        errors_of("--- !custom\na: 1\n"),
        vec!["2: unsupported YAML tag !custom on a mapping (mooring reads plain YAML only)"]
    );
    assert_eq!(
        errors_of("a: !!python/object\n  x: 1\nb: !!set [1]\n"),
        vec![
            "2: unsupported YAML tag !!python/object on a mapping (mooring reads plain YAML only)",
            "3: unsupported YAML tag !!set on a sequence (mooring reads plain YAML only)"
        ]
    );
    assert!(errors_of("a: !!map {x: 1}\nb: !!seq [1]\n").is_empty());
}

#[test]
fn keys_resolve_before_the_duplicate_check() {
    assert_eq!(
        errors_of("~: 1\nnull: 2\n"),
        vec!["2: duplicate key \"null\" (first defined on line 1)"]
    );
    assert_eq!(
        errors_of("1: a\n0x1: b\n"),
        vec!["2: duplicate key \"1\" (first defined on line 1)"]
    );
    // Quoted keys are strings as written.
    assert!(errors_of("\"~\": 1\n~: 2\n").is_empty());
    let d = one("~: 1\nTrue: 2\n");
    assert_eq!(d.value, serde_json::json!({"null": 1, "true": 2}));
}

#[test]
fn the_alias_bomb_hint_needs_aliases() {
    let limits = Limits {
        max_nodes: 10,
        ..Limits::default()
    };
    let (_, errors) = parse_stream("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n", &limits);
    assert_eq!(
        errors[0].message,
        "document has more than 10 nodes; refusing to load it: split it into smaller documents"
    );
    let (_, errors) = parse_stream("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", &limits);
    assert!(
        errors[0].message.contains("is it an alias bomb?"),
        "{errors:?}"
    );
}
