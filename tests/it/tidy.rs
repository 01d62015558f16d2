//! Keeps documentation true: ARCHITECTURE.md's code map names every crate of
//! the workspace, and every Rust module starts with a `//!` doc comment.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn architecture_names_every_workspace_crate() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members_line = manifest.lines().find(|l| l.starts_with("members")).unwrap();
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(!members.is_empty());
    for m in members {
        let pkg = std::fs::read_to_string(root().join(m).join("Cargo.toml")).unwrap();
        let name = pkg.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"');
        assert!(arch.contains(&format!("### `{m}/` (package `{name}`)")), "ARCHITECTURE.md has no code-map entry for {m} ({name})");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_has_a_doc_comment() {
    let mut files = Vec::new();
    for dir in ["src", "core/src", "macros/src", "tests/it", "core/benches", "reference/src", "routes"] {
        rust_files(&root().join(dir), &mut files);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("//!"), "{} does not start with a `//!` module doc", f.display());
    }
}
