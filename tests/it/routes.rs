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

/// The README's `[profile.dev.build-override]` snippet, appended to the
/// build.rs route's manifest in a crate of its own (profiles are read from
/// a workspace's root only), builds, and compiles kiln-core for the build
/// script with `opt-level=3`: the optimisation the README promises.
#[test]
fn the_readmes_build_override_snippet_optimises_the_build_script() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let marker = "<!-- build-override -->\n```toml\n";
    let at = readme.find(marker).expect("README.md marks its build-override snippet");
    let body = &readme[at + marker.len()..];
    let snippet = &body[..body.find("```").unwrap()];
    let route = root().join("routes/build-rs");
    let absolute = |rel: &str| route.join(rel).canonicalize().unwrap().display().to_string();
    let manifest = std::fs::read_to_string(route.join("Cargo.toml"))
        .unwrap()
        .replace("path = \"../../core\"", &format!("path = \"{}\"", absolute("../../core")))
        .replace("path = \"../..\"", &format!("path = \"{}\"", absolute("../..")))
        .replace("name = \"kiln-route-build-rs\"", "name = \"kiln-build-override\"");
    let dir = std::env::temp_dir().join(format!("kiln-build-override-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), format!("{manifest}\n[workspace]\n\n{snippet}")).unwrap();
    std::fs::copy(route.join("build.rs"), dir.join("build.rs")).unwrap();
    std::fs::copy(route.join("src/main.rs"), dir.join("src/main.rs")).unwrap();
    std::os::unix::fs::symlink(root().join("migrations"), dir.join("migrations")).unwrap();
    // The workspace's lock file, so that the crate resolves the versions CI already built.
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["build", "-v", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root().join("target/kiln-e2e/target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // `-v` shows each rustc call. kiln-core is built twice, for the binary
    // (through kiln, unoptimised) and for the build script: that one with
    // opt-level=3. When both are up to date, cargo says "Fresh" instead.
    let calls: Vec<&str> = log.lines().filter(|l| l.contains("--crate-name kiln_core")).collect();
    assert!(
        calls.iter().any(|l| l.contains("opt-level=3")) || (calls.is_empty() && log.contains("Fresh kiln-core")),
        "kiln-core for the build script is not optimised:\n{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
