//! Benchmark: validation plus code generation of generated migrations
//! directories (a chain with a branch and its merge every 50 revisions),
//! and the time rustc takes to compile the generated table.
//!
//! `cargo bench -p kiln-core --bench validate` prints, for 1,000 and 10,000
//! revisions, the best of several runs of `load_dir` (read, parse, validate,
//! graph, history order) + `generate` + `render_file`, and the ratio to the
//! 1-second target. With `KILN_BENCH_COMPILE=1` it also builds a crate that
//! embeds the 10,000-revision table (build script included) in release mode.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_core::codegen;

/// Writes `n` revisions to `dir` and returns the directory.
pub fn generate_dir(dir: &Path, n: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let id = |i: usize| format!("{:012x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16);
    for i in 0..n {
        let p = i % 50;
        let revises = match (i, p) {
            (0, _) => String::new(),
            (_, 11) => id(i - 2),                               // side branch from the same parent as i-1
            (_, 12) => id(i - 2),                               // main line continues from i-2
            (_, 13) => format!("{}, {}", id(i - 1), id(i - 2)), // merge
            _ => id(i - 1),
        };
        // Kartograph-style DDL that passes every lint rule: a table with a
        // ULID key, a foreign key to the previous revision's table and an index.
        let fk = if i == 0 {
            String::new()
        } else {
            format!(",\n    CONSTRAINT fk_items_{i}_parent_id_items_{p} FOREIGN KEY (parent_id) REFERENCES items_{p} (id)", p = i - 1)
        };
        let text = format!(
            "-- Step {i}\n--\n-- Revision ID: {rid}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00.000000\n\n\
             -- kiln:upgrade\nCREATE TABLE items_{i} (\n    id VARCHAR(26) NOT NULL,\n    parent_id VARCHAR(26),\n    name VARCHAR(255) NOT NULL,\n    \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n    CONSTRAINT pk_items_{i} PRIMARY KEY (id){fk}\n);\n\
             CREATE INDEX ix_items_{i}_parent_id ON items_{i} (parent_id);\n\n\
             -- kiln:downgrade\nDROP INDEX ix_items_{i}_parent_id;\nDROP TABLE items_{i};\n",
            rid = id(i)
        );
        std::fs::write(dir.join(format!("{}_step_{i}.sql", id(i))), text).unwrap();
    }
}

/// What a build script does: validate (lint included) and render the file.
fn validate_and_generate(dir: &Path) -> usize {
    let (_, text) = kiln_core::build::validate_and_render(dir, "migrations", |_| {}).unwrap_or_else(|r| panic!("{r}"));
    text.len()
}

/// Where the time goes for one directory: load+validate, generate, render.
fn phases(dir: &Path) {
    let t = Instant::now();
    let set = kiln_core::load_dir(dir, "migrations").unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let order = set.graph.history_order();
    let history = t.elapsed();
    let t = Instant::now();
    let tokens = codegen::generate(&set).unwrap();
    let generate = t.elapsed();
    let t = Instant::now();
    let text = codegen::render_file(&set, &tokens);
    let render = t.elapsed();
    println!(
        "  phases for {} revisions: load+validate {:.1} ms (of which history order {:.1} ms), generate {:.1} ms, render {:.1} ms ({} bytes)",
        order.len(),
        load.as_secs_f64() * 1e3,
        history.as_secs_f64() * 1e3,
        generate.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        text.len()
    );
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kiln-bench").join(name)
}

fn main() {
    println!("kiln-core validate + generate (best of 5)");
    for n in [1_000, 10_000] {
        let dir = scratch(&format!("migrations-{n}"));
        generate_dir(&dir, n);
        let mut bytes = 0;
        let t = best_of(5, || bytes = validate_and_generate(&dir));
        println!(
            "  {n:>6} revisions: {:>8.1} ms  ({:.2} of the 1 s target; generated file {} KiB)",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64(),
            bytes / 1024
        );
    }
    phases(&scratch("migrations-10000"));
    lint_share(&scratch("migrations-10000"));
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    declared_share(&reference, "reference");
    declared_share(&scratch("migrations-10000"), "10000");
    corpus_throughput();
    if std::env::var_os("KILN_BENCH_COMPILE").is_some() {
        compile_bench();
    } else {
        println!("  (set KILN_BENCH_COMPILE=1 to time compiling the 10,000-revision table)");
    }
}

/// The lint pass's share: what a build script does (validation, generation
/// and rendering, as `build::validate_and_render`) with the lint pass against
/// the same without it (`Config::lint = false`), and the pass alone (parse +
/// replay, on a validated set, not overlapped with anything) in MB/s of SQL.
fn lint_share(dir: &Path) {
    let set = kiln_core::load_dir(dir, "migrations").unwrap();
    assert!(set.report.diagnostics.is_empty(), "the generated revisions must be lint-clean");
    let sql: usize = set.revisions.iter().map(|r| r.parsed.upgrade.len() + r.parsed.downgrade.as_ref().map_or(0, |d| d.len())).sum();
    let alone = best_of(5, || assert!(kiln_core::lint::check(&set).diagnostics.is_empty()));
    let run = |lint: bool| {
        best_of(5, || {
            std::hint::black_box(kiln_core::build::validate_and_render(dir, "migrations", |c| c.lint = lint).unwrap());
        })
    };
    let (with, without) = (run(true), run(false));
    println!(
        "  lint pass alone on {} revisions: {:.1} ms, {:.1} MB/s of SQL ({:.2} MB)",
        set.revisions.len(),
        alone.as_secs_f64() * 1e3,
        sql as f64 / 1e6 / alone.as_secs_f64(),
        sql as f64 / 1e6
    );
    println!(
        "  validate + generate: {:.1} ms with the lint pass, {:.1} ms without: lint adds {:.0}% (target < 25%)",
        with.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3,
        100.0 * (with.as_secs_f64() / without.as_secs_f64() - 1.0)
    );
}

/// The declared schema's share (`schema = "schema.sql"`): a copy of `dir`
/// whose declared schema is every upgrade section in graph order (DDL that
/// builds the head), validated with and without the comparison.
fn declared_share(dir: &Path, name: &str) {
    let set = kiln_core::load_dir(dir, "migrations").unwrap();
    let copy = scratch(&format!("declared-{name}"));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    for r in &set.revisions {
        std::fs::write(copy.join(&r.file_name), &r.source).unwrap();
    }
    let mut ddl = String::new();
    for &i in set.history.iter().rev() {
        let r = &set.revisions[i];
        ddl.push_str(&r.source[r.bom_len..][r.parsed.upgrade.clone()]);
        ddl.push('\n');
    }
    // Hidden, so that the run without the comparison skips it too.
    std::fs::write(copy.join(".schema.sql"), ddl).unwrap();
    // kiln.toml declares the schema, or is gone.
    let declare = |declared: bool| {
        let toml = copy.join("kiln.toml");
        if declared {
            std::fs::write(&toml, "schema = \".schema.sql\"\n").unwrap();
        } else {
            let _ = std::fs::remove_file(&toml);
        }
    };
    let run = |declared: bool| {
        declare(declared);
        best_of(5, || {
            let (set, _) = kiln_core::build::validate_and_render(&copy, "migrations", |_| {}).unwrap_or_else(|r| panic!("{r}"));
            assert_eq!(set.config.declared.is_some(), declared);
        })
    };
    let (with, without) = (run(true), run(false));
    println!(
        "  declared schema on {} revisions: {:.1} ms with the comparison, {:.1} ms without: it adds {:.1}% (target < 10%)",
        set.revisions.len(),
        with.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3,
        100.0 * (with.as_secs_f64() / without.as_secs_f64() - 1.0)
    );
    // A build script's rerun: every file, the declared schema too, from
    // the lint cache in OUT_DIR.
    let rerun = |declared: bool| {
        declare(declared);
        let cache = copy.with_extension(format!("cache-{declared}"));
        let _ = std::fs::remove_file(&cache);
        let once = || {
            kiln_core::build::validate_and_render_cached(&copy, "migrations", |_| {}, &cache).unwrap_or_else(|r| panic!("{r}"));
        };
        once();
        best_of(5, once)
    };
    let (with, without) = (rerun(true), rerun(false));
    println!(
        "  ... a build script's rerun (the lint cache warm): {:.1} ms with the comparison, {:.1} ms without: it adds {:.1}%",
        with.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3,
        100.0 * (with.as_secs_f64() / without.as_secs_f64() - 1.0)
    );
}

/// Parser throughput on real migrations (the test corpus: functions,
/// triggers, dollar quoting), one thread.
fn corpus_throughput() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/corpus");
    let mut texts = Vec::new();
    for package in ["procrastinate", "graphile-worker"] {
        for e in std::fs::read_dir(root.join(package)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sql") {
                texts.push(std::fs::read_to_string(p).unwrap());
            }
        }
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let t = best_of(5, || {
        for t in &texts {
            std::hint::black_box(kiln_core::lint::sql::parse(t));
        }
    });
    println!(
        "  parse + lower the real corpus ({} files, {} KiB): {:.1} ms, {:.1} MB/s on one thread",
        texts.len(),
        bytes / 1024,
        t.as_secs_f64() * 1e3,
        bytes as f64 / 1e6 / t.as_secs_f64()
    );
}

/// Builds a scratch crate embedding 10 revisions (to compile dependencies),
/// then 10,000 revisions, timing only the second build.
fn compile_bench() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let app = scratch("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"kiln_bench_app\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n\
             [dependencies]\nkiln = {{ path = {r:?}, default-features = false }}\n\n[build-dependencies]\nkiln-core = {{ path = {c:?} }}\n",
            r = root.display().to_string(),
            c = root.join("core").display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    std::fs::write(app.join("build.rs"), "fn main() { kiln_core::build::migrations(\"migrations\"); }\n").unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        "static M: kiln::Migrations = kiln::include_migrations!();\nfn main() { println!(\"{}\", M.len()); }\n",
    )
    .unwrap();
    let build = || {
        let t = Instant::now();
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "--offline", "-q"])
            .env("CARGO_TARGET_DIR", scratch("target"))
            .current_dir(&app)
            .status()
            .unwrap()
            .success();
        assert!(ok, "scratch build failed");
        t.elapsed()
    };
    generate_dir(&app.join("migrations"), 10);
    build();
    for n in [1_000, 10_000] {
        generate_dir(&app.join("migrations"), n);
        let t = build();
        println!("  release build of a crate embedding {n:>6} revisions (build script + rustc): {:.1} s", t.as_secs_f64());
    }
}
