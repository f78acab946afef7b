//! The shape of the code, which partners read before they run it: crates that depend on each
//! other as docs/architecture.md draws them, modules that depend on each other in one direction, a
//! sandbox that knows nothing of the client it plays against, Segment's wording only in the
//! Segment client, and files short enough to read.
//!
//! The crate rules read `Cargo.lock` (every dependency, however deep); the module rules read
//! the source files (comments and `#[cfg(test)]` parts left out) and look at what each module
//! names with `crate::…` and `super::…`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the directory is readable") {
        let path = entry.expect("the entry is readable").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its comments (doc links are not dependencies) and without its
/// tests (a test may use anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("the file is readable");
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow `prefix` in `code` (`crate::store::Store` → `store` for
/// `crate::`), including those in a braced list (`super::{a, b::C}` → `a`, `b`).
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                names.insert(ident(item.trim()));
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.remove("");
    names
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// A cycle in `graph`, if it has one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

/// The crate's top-level modules (`config`, `segment`, `web`, …) and which others each names.
fn crate_graph() -> Graph {
    let root = src();
    let mut graph = Graph::new();
    for file in rust_files(&root) {
        let relative = file.strip_prefix(&root).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_owned())
            .expect("a file name");
        if top == "main" || top == "lib" {
            continue;
        }
        let mut named = named_after(&code(&file), "crate::");
        named.remove(&top);
        graph.entry(top).or_default().extend(named);
    }
    graph
}

/// The modules of `web/` and which of their siblings each names.
fn web_graph() -> Graph {
    let dir = src().join("web");
    let modules: BTreeSet<String> = rust_files(&dir)
        .iter()
        .filter_map(|f| f.file_stem()?.to_str().map(str::to_owned))
        .filter(|name| name != "mod")
        .collect();
    let mut graph = Graph::new();
    for file in rust_files(&dir) {
        let name = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let code = code(&file);
        let mut named: BTreeSet<String> = named_after(&code, "super::")
            .into_iter()
            .chain(named_after(&code, "crate::web::"))
            .filter(|n| modules.contains(n) && *n != name)
            .collect();
        if name == "mod" {
            // `mod.rs` only declares and re-exports its children.
            named.clear();
        }
        graph.insert(name, named);
    }
    graph
}

#[test]
fn the_crates_modules_depend_on_each_other_in_one_direction() {
    let graph = crate_graph();
    assert!(graph.contains_key("web") && graph.contains_key("store"));
    assert_eq!(cycle(&graph), None, "a cycle between modules: {graph:#?}");
}

#[test]
fn the_web_layers_modules_depend_on_each_other_in_one_direction() {
    let graph = web_graph();
    assert!(graph["destination"].contains("extract"), "{graph:#?}");
    assert_eq!(cycle(&graph), None, "a cycle in web/: {graph:#?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: Graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        named_after("use super::{a, b::C};\nuse super::d;", "super::"),
        ["a", "b", "d"].map(String::from).into()
    );
}

/// What Segment says, and which setting takes the partner's key, is the Segment client's
/// business (`segment::ErrorKind`, `segment::API_KEY_SETTING`): the web layer matches kinds.
#[test]
fn segments_wording_stays_in_the_segment_client() {
    let phrases = [
        "already exists",
        "malformed token",
        "invalid_scope",
        "redirect_uri",
        "\"apiKey\"",
    ];
    for file in rust_files(&src().join("web")) {
        let code = code(&file).to_lowercase();
        for phrase in phrases {
            assert!(
                !code.contains(&phrase.to_lowercase()),
                "{} holds Segment's {phrase:?}",
                file.display()
            );
        }
    }
}

/// The functions of `text` (before its tests) that run over `limit` lines, as `name (lines)`:
/// from the line that names the function to the brace that closes it at the same indent.
fn long_functions(text: &str, limit: usize) -> Vec<String> {
    let lines: Vec<&str> = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .collect();
    let mut long = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "fn");
        let is_fn = at.is_some_and(|at| {
            words[..at]
                .iter()
                .all(|w| w.starts_with("pub") || ["async", "const", "unsafe"].contains(w))
        });
        let body = (i..lines.len()).find(|&j| {
            let end = lines[j].trim_end();
            end.ends_with('{') || end.ends_with(';')
        });
        match (is_fn, body) {
            (true, Some(open)) if lines[open].trim_end().ends_with('{') => {
                let close = (open + 1..lines.len())
                    .find(|&k| lines[k] == format!("{indent}}}"))
                    .unwrap_or(lines.len() - 1);
                let length = close - i + 1;
                if length > limit {
                    let name = words[at.unwrap_or(0) + 1].split(['(', '<']).next();
                    long.push(format!("{} ({length} lines)", name.unwrap_or_default()));
                }
                i = close + 1;
            }
            _ => i += 1,
        }
    }
    long
}

/// No function outside the tests runs over 80 lines: a reader sees each whole.
#[test]
fn functions_are_short_enough_to_read() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let files = rust_files(&src()).into_iter().chain(rust_files(&crates));
    let mut long = Vec::new();
    let outside_tests = |f: &PathBuf| {
        f.components()
            .all(|c| c.as_os_str() != "target" && c.as_os_str() != "tests")
    };
    for file in files.filter(outside_tests) {
        let text = std::fs::read_to_string(&file).unwrap();
        for function in long_functions(&text, 80) {
            long.push(format!("{}: {function}", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "functions over 80 lines:\n{}",
        long.join("\n")
    );
    // The check finds one: a function of 81 lines.
    let long_one = format!("fn long() {{\n{}}}\n", "    step();\n".repeat(79));
    assert_eq!(long_functions(&long_one, 80), ["long (81 lines)"]);
}

/// No source file holds more than about 600 lines before its tests.
#[test]
fn files_are_short_enough_to_read() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let files = rust_files(&src()).into_iter().chain(rust_files(&crates));
    for file in files.filter(|f| f.components().all(|c| c.as_os_str() != "target")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.split("#[cfg(test)]").next().unwrap().lines().count();
        assert!(lines <= 620, "{} has {lines} lines", file.display());
    }
}

/// Each package of `Cargo.lock` and the packages it depends on (dev-dependencies included:
/// the lock file does not tell them apart, so the rules hold for tests too).
fn lock_graph() -> Graph {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .expect("Cargo.lock is committed");
    let mut graph = Graph::new();
    for package in lock.split("[[package]]").skip(1) {
        let name = package
            .lines()
            .find_map(|line| line.strip_prefix("name = "))
            .expect("a package has a name")
            .trim_matches('"')
            .to_owned();
        let dependencies = package
            .split("dependencies = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_default()
            .lines()
            .map(|line| line.trim().trim_end_matches(',').trim_matches('"'))
            .filter(|line| !line.is_empty())
            // "rand 0.9.5" names the package rand.
            .map(|dependency| dependency.split(' ').next().unwrap_or_default().to_owned());
        graph.entry(name).or_default().extend(dependencies);
    }
    graph
}

/// Every package `package` depends on, however deep.
fn depends_on(graph: &Graph, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next = vec![package.to_owned()];
    while let Some(name) = next.pop() {
        for dependency in graph.get(&name).into_iter().flatten() {
            if seen.insert(dependency.clone()) {
                next.push(dependency.clone());
            }
        }
    }
    seen
}

const APP: &str = "segment-partnerapp";
const CLIENT: &str = "segment-client";
const SANDBOX: &str = "segment-sandbox";
const LIBRARY: &str = "enable-with-segment";

/// The Segment client is usable from any tokio program: no actix crate, however deep.
#[test]
fn the_segment_client_depends_on_no_actix_crate() {
    let graph = lock_graph();
    let actix: Vec<String> = depends_on(&graph, CLIENT)
        .into_iter()
        .filter(|name| name.starts_with("actix"))
        .collect();
    assert!(actix.is_empty(), "{CLIENT} depends on {actix:?}");
    // The check sees actix where it is.
    assert!(depends_on(&graph, LIBRARY).contains("actix-web"));
}

/// The sandbox plays Segment on its own rules: it depends on neither the client nor the flow
/// library, so the two sides can disagree and a test catches it.
#[test]
fn the_sandbox_depends_on_neither_the_client_nor_the_library() {
    let graph = lock_graph();
    let sandbox = depends_on(&graph, SANDBOX);
    for other in [CLIENT, LIBRARY, APP] {
        assert!(!sandbox.contains(other), "{SANDBOX} depends on {other}");
    }
    assert!(
        depends_on(&graph, APP).contains(SANDBOX),
        "the app mounts the sandbox"
    );
}

/// The libraries never import the app: not through Cargo, not by name in their source.
#[test]
fn the_libraries_never_import_the_app() {
    let graph = lock_graph();
    for library in [CLIENT, SANDBOX, LIBRARY] {
        assert!(
            !depends_on(&graph, library).contains(APP),
            "{library} depends on the app"
        );
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates")
            .join(library)
            .join("src");
        for file in rust_files(&src) {
            assert!(
                !code(&file).contains("segment_partnerapp"),
                "{} names the app",
                file.display()
            );
        }
    }
    assert!(
        depends_on(&graph, APP).contains(LIBRARY),
        "the app is built on the library"
    );
}
