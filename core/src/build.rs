//! The build-script helper: validate a migrations directory and embed it.
//!
//! In the crate that ships migrations, add `kiln-core` as a build dependency
//! and call [`migrations`] from `build.rs`:
//!
//! ```no_run
//! // build.rs, whose `fn main` is this one line:
//! kiln_core::build::migrations("migrations");
//! ```
//!
//! then embed the result where the binary needs it:
//!
//! ```ignore
//! static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();
//! ```
//!
//! On problems the build fails with every diagnostic printed in rustc's
//! format and no backtrace. Adding, removing or editing a file in the
//! directory reruns the build script; an unchanged tree rebuilds nothing.

use std::path::{Path, PathBuf};

use crate::codegen;
use crate::config::Config;
use crate::diagnostic::Severity;
use crate::validate::{load_dir_deferred, RevisionSet};

/// The file written to `OUT_DIR`, which `kiln::include_migrations!()` includes.
pub const OUT_FILE: &str = "kiln_migrations.rs";

/// Validates `dir` (relative to the crate's `Cargo.toml`, or absolute) and
/// writes the embedded table to `$OUT_DIR/kiln_migrations.rs`.
///
/// Exits the build script with status 1 after printing every error.
pub fn migrations(dir: impl AsRef<Path>) {
    let dir = dir.as_ref();
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));
    let out_dir = match std::env::var_os("OUT_DIR") {
        Some(d) => PathBuf::from(d),
        None => fail("kiln_core::build::migrations must run inside a build script (OUT_DIR is not set)"),
    };
    match generate_into(&manifest, dir, &out_dir.join(OUT_FILE)) {
        Ok(()) => {}
        Err(rendered) => {
            eprintln!("{rendered}");
            std::process::exit(1);
        }
    }
}

/// The work of [`migrations`], without the build-script I/O conventions:
/// prints `cargo:` directives on stdout, returns rendered diagnostics on error.
pub fn generate_into(manifest_dir: &Path, dir: &Path, out_file: &Path) -> Result<(), String> {
    let full = manifest_dir.join(dir);
    // A directory path makes cargo rerun on any change inside it: added,
    // removed or edited files alike.
    println!("cargo:rerun-if-changed={}", full.display());
    let display = dir.to_string_lossy().trim_end_matches('/').to_string();
    let cache = out_file.with_file_name(crate::lint::CACHE_FILE);
    let (set, text, _) = render(&full, &display, |_| {}, Some(&cache))?;
    // Cargo shows one `cargo:warning` per line: the rendered diagnostic,
    // source line and caret included, line by line.
    for d in &set.report.diagnostics {
        if d.severity == Severity::Warning {
            for line in d.render(&set.report.sources).lines() {
                println!("cargo:warning={line}");
            }
        }
    }
    for r in &set.revisions {
        if let Some(p) = &r.path {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    if let Some(p) = set.config.declared.as_ref().and_then(|d| d.path.as_ref()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    // Rewrite only on change, so an unchanged tree leaves the file's mtime alone.
    if std::fs::read_to_string(out_file).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(out_file, text).map_err(|e| format!("error: cannot write {}: {e}", out_file.display()))?;
    }
    Ok(())
}

/// Validates a directory and renders its generated file, running the lint
/// rules on one thread while code is generated on another (the output is
/// dropped if the rules find an error). On problems, the rendered report.
pub fn validate_and_render(dir: &Path, display: &str, adjust: impl Fn(&mut Config)) -> Result<(RevisionSet, String), String> {
    render(dir, display, adjust, None).map(|(set, text, _)| (set, text))
}

/// [`validate_and_render`] through a lint cache file, as a build script's
/// rerun goes: for the benchmarks.
#[doc(hidden)]
pub fn validate_and_render_cached(
    dir: &Path,
    display: &str,
    adjust: impl Fn(&mut Config),
    cache: &Path,
) -> Result<(RevisionSet, String), String> {
    render(dir, display, adjust, Some(cache)).map(|(set, text, _)| (set, text))
}

/// The set, its generated file, and how many files the lint cache gave and
/// how many were parsed (when there was a cache).
type Rendered = (RevisionSet, String, Option<(usize, usize)>);

/// [`validate_and_render`], keeping what the lint pass parsed in
/// `cache` (a file in the build script's `OUT_DIR`) for the next run.
fn render(dir: &Path, display: &str, adjust: impl Fn(&mut Config), cache: Option<&Path>) -> Result<Rendered, String> {
    let (mut set, deferred) = load_dir_deferred(dir, display, adjust, cache).map_err(|report| report.render())?;
    let stats = deferred.cache_stats();
    let (findings, text) = std::thread::scope(|scope| {
        let set = &set;
        let rules = scope.spawn(move || deferred.finish(set));
        let text = codegen::generate(set).map(|tokens| codegen::render_file(set, &tokens));
        (rules.join().expect("the lint rules do not panic"), text)
    });
    set.report.diagnostics.extend(findings);
    if set.report.has_errors() {
        return Err(set.report.render());
    }
    Ok((set, text?, stats))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

#[cfg(all(test, feature = "lint"))]
mod tests {
    use super::*;

    fn revision(i: usize, index_name: &str) -> String {
        let parent = if i == 0 { String::new() } else { format!("{:012x}", i - 1) };
        format!(
            "-- Step {i}\n--\n-- Revision ID: {i:012x}\n-- Revises: {parent}\n-- Create Date: 2026-12-02 10:00:00\n\n\
             -- kiln:upgrade\nCREATE TABLE items_{i} (id VARCHAR(26) NOT NULL, parent_id VARCHAR(26), CONSTRAINT pk_items_{i} PRIMARY KEY (id));\n\
             CREATE INDEX {index_name} ON items_{i} (parent_id);\n\n-- kiln:downgrade\nDROP INDEX {index_name};\nDROP TABLE items_{i};\n"
        )
    }

    /// A build that reruns parses only the files whose text changed, and
    /// reports exactly what a build without the cache reports.
    #[test]
    fn the_lint_cache_reparses_only_edited_files() {
        let root = std::env::temp_dir().join(format!("kiln-build-cache-{}", std::process::id()));
        let dir = root.join("migrations");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&dir).unwrap();
        let cache = root.join(crate::lint::CACHE_FILE);
        for i in 0..20 {
            // Revision 3's index breaks the naming rule: a finding from a cached file must still show.
            let name = if i == 3 { "idx_bad".to_string() } else { format!("ix_items_{i}_parent_id") };
            std::fs::write(dir.join(format!("{i:012x}_step.sql")), revision(i, &name)).unwrap();
        }
        let run = |cache: Option<&Path>| render(&dir, "migrations", |_| {}, cache);
        let uncached = run(None).map(|(_, text, _)| text);
        assert!(uncached.as_ref().is_err_and(|e| e.contains("idx_bad")), "{uncached:?}");
        assert_eq!(run(Some(&cache)).map(|(_, text, _)| text), uncached, "first run with a cache");
        assert!(cache.exists(), "the cache is written even when the rules fail");

        let stats = |dir: &Path| {
            let (set, deferred) = load_dir_deferred(dir, "migrations", |_| {}, Some(&cache)).unwrap();
            let stats = deferred.cache_stats();
            (deferred.finish(&set).len(), stats)
        };
        assert_eq!(stats(&dir), (1, Some((20, 0))), "every file from the cache, the finding still reported");
        std::fs::write(dir.join(format!("{:012x}_step.sql", 3)), revision(3, "ix_items_3_parent_id")).unwrap();
        assert_eq!(stats(&dir), (0, Some((19, 1))), "the edited file alone is parsed");
        assert_eq!(stats(&dir), (0, Some((20, 0))));
        let (_, text, _) = run(Some(&cache)).unwrap();
        assert_eq!(Ok(text), run(None).map(|(_, text, _)| text), "same table with and without the cache");

        std::fs::write(&cache, b"kiln lint cache 0 from another build\n").unwrap();
        assert_eq!(stats(&dir), (0, Some((0, 20))), "a cache from another build is not read");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The declared schema's parse is kept too, and never answers for
    /// another text: an edit to `schema.sql` is compared anew.
    #[test]
    fn the_lint_cache_keeps_the_declared_schema_parsed() {
        let root = std::env::temp_dir().join(format!("kiln-build-cache-declared-{}", std::process::id()));
        let dir = root.join("migrations");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&dir).unwrap();
        let cache = root.join(crate::lint::CACHE_FILE);
        for i in 0..3 {
            std::fs::write(dir.join(format!("{i:012x}_step.sql")), revision(i, &format!("ix_items_{i}_parent_id"))).unwrap();
        }
        std::fs::write(dir.join("kiln.toml"), "schema = \"schema.sql\"\n").unwrap();
        let head: String = (0..3)
            .map(|i| {
                format!(
                    "CREATE TABLE items_{i} (id VARCHAR(26) NOT NULL, parent_id VARCHAR(26), CONSTRAINT pk_items_{i} PRIMARY KEY (id));\n\
                     CREATE INDEX ix_items_{i}_parent_id ON items_{i} (parent_id);\n"
                )
            })
            .collect();
        let run = || render(&dir, "migrations", |_| {}, Some(&cache)).map(|_| ());
        std::fs::write(dir.join("schema.sql"), &head).unwrap();
        assert_eq!(run(), Ok(()), "the declared schema is the head");
        assert_eq!(crate::lint::Cache::open(&cache).len(), 4, "three revisions and the declared schema");
        let written = std::fs::metadata(&cache).unwrap().modified().unwrap();
        assert_eq!(run(), Ok(()));
        assert_eq!(std::fs::metadata(&cache).unwrap().modified().unwrap(), written, "nothing new: the cache is not written");
        std::fs::write(dir.join("schema.sql"), head.replacen("parent_id VARCHAR(26)", "parent_id VARCHAR(64)", 1)).unwrap();
        assert!(run().is_err_and(|e| e.contains("is declared `varchar(64)`")), "an edited schema is compared anew");
        std::fs::write(dir.join("schema.sql"), &head).unwrap();
        assert_eq!(run(), Ok(()));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
