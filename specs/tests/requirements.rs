//! `specs/requirements.toml` names only properties and tests that exist.

use failover_specs::FailoverModel;
use stateright::Model;
use std::collections::BTreeSet;
use std::path::Path;

fn test_names() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    let mut dirs = vec![root.join("src"), root.join("tests")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for line in text.lines() {
                    let l = line.trim_start();
                    if let Some(rest) = l.strip_prefix("fn ") {
                        let name: String =
                            rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
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
                if !tests.contains(t) {
                    missing.push(format!("{id}: test {t}"));
                }
            } else if !properties.contains(c) {
                missing.push(format!("{id}: property {c}"));
            }
        }
    }
    assert!(reqs.len() >= 100, "every MUST of RFC 8156 is listed ({} entries)", reqs.len());
    assert!(missing.is_empty(), "entries name things that do not exist: {missing:#?}");
}
