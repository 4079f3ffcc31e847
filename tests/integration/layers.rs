//! Modules import downward only, in every crate of the workspace: no module uses (through
//! `crate::` or `super::`) one that uses it back, however long the way round. The crate docs
//! describe each crate in layers; this keeps that true as the code grows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of the crate whose sources are at `src`, by path (`session::turn`), with the
/// text it imports through: its code outside comments and its test module.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let code: Vec<&str> = code
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect();
            found.insert(parts.join("::"), code.join("\n"));
        }
    }
    found
}

/// What each module imports among the others.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut graph = BTreeMap::new();
    for (name, code) in modules {
        let parent = name.rsplit_once("::").map_or("", |(parent, _)| parent);
        let mut uses = BTreeSet::new();
        for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_string())] {
            for (at, _) in code.match_indices(prefix) {
                let path: String = code[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':')
                    .collect();
                let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                // The longest prefix that is a module: `crate::store::memory::X` is `store::memory`.
                for end in (1..=segments.len()).rev() {
                    let mut target = segments[..end].join("::");
                    if !base.is_empty() {
                        target = format!("{base}::{target}");
                    }
                    if let Some((key, _)) = modules.get_key_value(&target) {
                        if key != name {
                            uses.insert(key.as_str());
                        }
                        break;
                    }
                }
            }
        }
        graph.insert(name.as_str(), uses);
    }
    graph
}

/// A way from `from` back to itself, if there is one.
fn circle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>, from: &'a str) -> Option<Vec<&'a str>> {
    let mut stack = vec![vec![from]];
    let mut seen = BTreeSet::new();
    while let Some(way) = stack.pop() {
        let last = *way.last().unwrap();
        for next in &graph[last] {
            if *next == from {
                let mut circle = way.clone();
                circle.push(from);
                return Some(circle);
            }
            if seen.insert(*next) {
                let mut longer = way.clone();
                longer.push(next);
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut circles = Vec::new();
    for krate in ["bedrock-chat", "bedrock-chat-server", "bedrock-chat-cli"] {
        let modules = modules(&root.join(krate).join("src"));
        assert!(modules.len() > 5, "{krate}: its modules are found");
        let graph = imports(&modules);
        for name in graph.keys() {
            if let Some(circle) = circle(&graph, name) {
                circles.push(format!("{krate}: {}", circle.join(" -> ")));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}
