//! `specs/requirements.toml` names only properties and tests that exist.
//!
//! A `test:NAME` entry names a test function (a `fn` under a `#[test]`-style attribute, such as
//! `#[test]`, `#[tokio::test]` or a `#[test]` inside `proptest!`) in the `src` or `tests`
//! directory of any workspace member (model, runtime, specs, tests). When a name is not unique
//! it may be qualified with the member, `test:model::NAME`, or with the file's path from the
//! workspace root, `test:model/tests/wire_requirements.rs::NAME`.

use failover_specs::FailoverModel;
use stateright::Model;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace members whose `src` and `tests` directories hold the tests we may name.
const MEMBERS: &[&str] = &["model", "runtime", "specs", "tests"];

/// Where each test function is: name -> set of (member, path relative to the workspace root,
/// whether it is `#[ignore]`d).
type Tests = BTreeMap<String, BTreeSet<(String, String, bool)>>;

fn test_names() -> Tests {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("specs has a parent");
    let mut names = Tests::new();
    for member in MEMBERS {
        let mut dirs: Vec<PathBuf> =
            vec![workspace.join(member).join("src"), workspace.join(member).join("tests")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p
                        .strip_prefix(workspace)
                        .map(|r| r.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_default();
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    for (name, ignored) in test_fns(&text) {
                        let place = (member.to_string(), rel.clone(), ignored);
                        names.entry(name).or_default().insert(place);
                    }
                }
            }
        }
    }
    names
}

/// The names of the functions in `text` that carry a test attribute: the attribute lines just
/// above the `fn` (doc comments and other attributes may sit between them) include one whose
/// path ends in `test` (`#[test]`, `#[tokio::test]`, `#[tokio::test(flavor = ...)]`). The flag
/// says whether an `#[ignore]` sits among them.
fn test_fns(text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut is_test = false;
    let mut ignored = false;
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("#[") {
            let path: String = l
                .trim_start_matches("#[")
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if path == "test" || path.ends_with("::test") {
                is_test = true;
            }
            if path == "ignore" {
                ignored = true;
            }
            continue;
        }
        if l.starts_with("//") || l.is_empty() {
            continue;
        }
        let rest = l.strip_prefix("async ").unwrap_or(l);
        if let Some(rest) = rest.strip_prefix("fn ") {
            if is_test {
                let name: String =
                    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push((name, ignored));
            }
        }
        is_test = false;
        ignored = false;
    }
    found
}

/// Whether `entry` (`NAME`, `MEMBER::NAME` or `PATH::NAME`) names exactly one existing test
/// that runs (an `#[ignore]`d test covers nothing).
fn resolve(entry: &str, tests: &Tests) -> Result<(), String> {
    let (qualifier, name) = match entry.rsplit_once("::") {
        Some((q, n)) => (Some(q), n),
        None => (None, entry),
    };
    let Some(places) = tests.get(name) else { return Err("no such test".into()) };
    let matching: Vec<&(String, String, bool)> = places
        .iter()
        .filter(|(member, path, _)| qualifier.is_none_or(|q| q == member || q == path))
        .collect();
    match matching.as_slice() {
        [] => Err(format!("no test of that name in {}", qualifier.unwrap_or_default())),
        [(_, path, true)] => Err(format!("{path}: the test is #[ignore]d")),
        [_] => Ok(()),
        _ => Err(format!("ambiguous, qualify it: {matching:?}")),
    }
}

#[test]
fn the_test_scanner_sees_tests_of_every_member_and_rejects_what_is_not_a_test() {
    let tests = test_names();
    // A model integration test, a model unit test, a runtime test, this file.
    for t in [
        "model::connect_31",
        "model/src/wire/failover/mod.rs::frame_decoder_compacts_and_reports_buffered",
        "skew_tolerant_comparisons",
        "specs::every_requirement_names_something_that_exists",
        "model::primary_crash_partner_down_and_recovery",
        "tests/tests/failover.rs::primary_crash_partner_down_and_recovery",
    ] {
        assert_eq!(resolve(t, &tests), Ok(()), "{t}");
    }
    assert!(tests.values().any(|places| places.iter().any(|(m, _, _)| m == "runtime")));
    // Helpers are not tests; unknown names, wrong qualifiers, a name two members use without a
    // qualifier, and an ignored test are refused.
    for t in [
        "test_fns",
        "msg",
        "no_such_test_anywhere",
        "runtime::connect_31",
        "primary_crash_partner_down_and_recovery",
    ] {
        assert!(resolve(t, &tests).is_err(), "{t} must not resolve");
    }
    // An ignored test is seen as ignored and refused (a synthetic file: the workspace has no
    // ignored test at present).
    let synthetic = "#[test]\n#[ignore = \"why\"]\nfn skipped() {}\n#[test]\nfn runs() {}\n";
    let found = test_fns(synthetic);
    assert_eq!(found, vec![("skipped".to_string(), true), ("runs".to_string(), false)]);
    let mut fake = Tests::new();
    for (name, ignored) in found {
        fake.entry(name).or_default().insert(("model".into(), "model/tests/x.rs".into(), ignored));
    }
    assert!(resolve("skipped", &fake).is_err(), "an ignored test must not resolve");
    assert_eq!(resolve("runs", &fake), Ok(()));
}

#[test]
fn every_requirement_names_something_that_exists() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("requirements.toml"))
            .expect("requirements.toml is readable");
    let doc: toml::Table = toml::from_str(&text).expect("requirements.toml parses");
    let reqs = doc["requirement"].as_array().expect("a [[requirement]] array");
    let model = FailoverModel::named("tiny").expect("tiny exists");
    let properties: BTreeSet<&str> = model.properties().iter().map(|p| p.name).collect();
    let tests = test_names();
    let mut missing = Vec::new();
    let mut ids = BTreeSet::new();
    for r in reqs {
        let id = r["id"].as_str().expect("id");
        assert!(ids.insert(id.to_string()), "duplicate id {id}");
        assert!(r["section"].as_str().is_some_and(|s| !s.is_empty()), "{id}: section");
        assert!(r["text"].as_str().is_some_and(|s| s.contains("MUST")), "{id}: text has a MUST");
        let covered: Vec<&str> = r["covered_by"]
            .as_array()
            .expect("covered_by is an array")
            .iter()
            .map(|v| v.as_str().expect("covered_by entries are strings"))
            .collect();
        assert!(!covered.is_empty(), "{id}: covered_by is empty");
        for c in covered {
            if c == "not covered" {
                let note = r.get("note").and_then(|n| n.as_str()).unwrap_or("");
                assert!(note.starts_with("not covered:"), "{id}: 'not covered' needs a reason");
            } else if let Some(t) = c.strip_prefix("test:") {
                if let Err(why) = resolve(t, &tests) {
                    missing.push(format!("{id}: test {t}: {why}"));
                }
            } else if !properties.contains(c) {
                missing.push(format!("{id}: property {c}"));
            }
        }
    }
    assert!(reqs.len() >= 100, "every MUST of RFC 8156 is listed ({} entries)", reqs.len());
    assert!(missing.is_empty(), "entries name things that do not exist: {missing:#?}");
}
