//! The library's modules form no circle: each top-level module's
//! `crate::` imports (comments and unit tests left out) make a graph, and
//! the graph has no strongly connected component of more than one module.
//! A circle makes a change in one module a change in all of them; see
//! ARCHITECTURE.md for the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module -> the modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("inside src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        // The binary's command layer sits above everything.
        if top == "main" || top == "lib" || top == "cli" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let text = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let entry = deps.entry(top.clone()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                let name: String = rest[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    entry.insert(name);
                }
                rest = &rest[at + 7..];
            }
        }
    }
    deps
}

/// Modules that reach themselves again through others.
fn circles(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in deps.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = deps.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (m, r) in &reaches {
        if !r.contains(*m) {
            continue;
        }
        let circle: BTreeSet<String> = r
            .iter()
            .filter(|o| reaches.get(o).is_some_and(|back| back.contains(*m)))
            .cloned()
            .collect();
        if !out.contains(&circle) {
            out.push(circle);
        }
    }
    out
}

#[test]
fn no_module_imports_itself_round_a_circle() {
    let deps = graph();
    assert!(deps.len() > 20, "the graph was read: {deps:?}");
    assert!(deps["store"].contains("case"), "imports are seen: {deps:?}");
    let found = circles(&deps);
    assert!(found.is_empty(), "circles between modules: {found:?}");
}

#[test]
fn a_circle_is_found_and_named() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in [
        ("store", "compliance"),
        ("compliance", "offboard"),
        ("offboard", "store"),
        ("model", "checksum"),
    ] {
        deps.entry(a.into()).or_default().insert(b.into());
        deps.entry(b.into()).or_default();
    }
    let found = circles(&deps);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        ["compliance", "offboard", "store"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
