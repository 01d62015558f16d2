//! The three ways to use kiln that the README shows (`routes/`): each
//! README `Cargo.toml` snippet is exactly the route crate's dependencies,
//! and each route's binary, built as a user's would be, migrates a real
//! database to head once and then does nothing.

use std::path::Path;
use std::process::Command;

use crate::pg::{client, fresh_db, versions};

const ROUTES: [&str; 3] = ["build-rs", "macro", "tokio"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A manifest's dependency tables, without comments, blank lines or `path = "...", `.
fn dependencies(manifest: &str) -> String {
    let start = manifest.find("[dependencies]").expect("a [dependencies] table");
    manifest[start..]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.find("path = \"") {
            Some(i) => {
                let end = l[i + 8..].find('"').map(|j| i + 8 + j + 1).unwrap();
                let rest = l[end..].strip_prefix(", ").unwrap_or(&l[end..]);
                format!("{}{rest}", &l[..i])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_shows_exactly_what_each_route_crate_builds() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for route in ROUTES {
        let marker = format!("<!-- route: {route} -->\n```toml\n");
        let at = readme.find(&marker).unwrap_or_else(|| panic!("README.md has no snippet for the {route} route"));
        let body = &readme[at + marker.len()..];
        let snippet = &body[..body.find("```").unwrap()];
        let manifest = std::fs::read_to_string(root().join("routes").join(route).join("Cargo.toml")).unwrap();
        assert_eq!(dependencies(snippet), dependencies(&manifest), "README's {route} snippet and routes/{route}/Cargo.toml differ");
    }
}

#[test]
fn each_route_migrates_a_database_to_head_once() {
    // The build script tests' target directory: its dependencies are mostly built already.
    let target = root().join("target").join("kiln-e2e").join("target");
    for route in ROUTES {
        let url = fresh_db();
        let run = || {
            Command::new(env!("CARGO"))
                .args(["run", "-q", "--offline", "-p", &format!("kiln-route-{route}")])
                .current_dir(root())
                .env("CARGO_TARGET_DIR", &target)
                .env("DATABASE_URL", &url)
                .env_remove("RUSTFLAGS")
                .output()
                .unwrap()
        };
        let first = run();
        assert!(first.status.success(), "{route}: {}", String::from_utf8_lossy(&first.stderr));
        assert_eq!(String::from_utf8_lossy(&first.stdout).trim(), "applied 7 revision(s); now at f0e1d2c3b4a5", "{route}");
        let again = run();
        assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "applied 0 revision(s); now at f0e1d2c3b4a5", "{route}");
        assert_eq!(versions(&mut client(&url)), ["f0e1d2c3b4a5"], "{route}");
    }
}
