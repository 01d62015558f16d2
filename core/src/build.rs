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
    let (set, text) = validate_and_render(&full, &display, |_| {})?;
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
    let (mut set, deferred) = load_dir_deferred(dir, display, adjust).map_err(|report| report.render())?;
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
    Ok((set, text?))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
