//! Real-world migrations (`tests/data/corpus`, copied from registry packages)
//! through kiln's statement boundaries (the build's parser): run one statement at a time, as kiln
//! runs a `Transactional: false` revision, they must all succeed and build
//! the same schema as psql running each file whole.

use std::path::Path;
use std::process::Command;

use crate::pg::{client, fresh_db, schema};

fn corpus(package: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus").join(package);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap().replace(":GRAPHILE_WORKER_SCHEMA", "graphile_worker");
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    files
}

fn check(package: &str, prelude: &str) -> usize {
    let files = corpus(package);
    let split_db = fresh_db();
    let mut c = client(&split_db);
    c.batch_execute(prelude).unwrap();
    let mut statements = 0;
    for (name, text) in &files {
        // One statement per query, inside the file's own transaction (some
        // statements, such as LOCK TABLE, need one), unless the file runs
        // CONCURRENTLY, which must not.
        let transactional = !text.to_ascii_lowercase().contains("concurrently");
        if transactional {
            c.batch_execute("BEGIN").unwrap();
        }
        for s in kiln_core::sql::statements(text) {
            let stmt = &text[s.start..s.end];
            statements += 1;
            if let Err(e) = c.batch_execute(stmt) {
                panic!("{package}/{name}: statement {statements} failed when sent alone: {e:?}\n{stmt}");
            }
        }
        if transactional {
            c.batch_execute("COMMIT").unwrap();
        }
    }
    let whole_db = fresh_db();
    client(&whole_db).batch_execute(prelude).unwrap();
    for (name, text) in &files {
        let path = std::env::temp_dir().join(format!("kiln-corpus-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut psql = Command::new("psql");
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &whole_db]);
        if !text.to_ascii_lowercase().contains("concurrently") {
            psql.arg("--single-transaction");
        }
        let out = psql.arg("-f").arg(&path).output().unwrap();
        assert!(out.status.success(), "psql {package}/{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(schema(&mut c), schema(&mut client(&whole_db)), "{package}: split and whole runs differ");
    statements
}

#[test]
fn real_migrations_split_into_statements_that_postgresql_accepts() {
    let a = check("procrastinate", "");
    let b = check("graphile-worker", "CREATE SCHEMA graphile_worker;");
    println!("corpus statements: procrastinate {a}, graphile-worker {b}");
    assert!(a + b >= 200, "only {} statements", a + b);
}

/// The corpus as a kiln revision chain: each file one upgrade-only
/// (`Irreversible: true`) revision revising the previous one, so that the
/// linter replays the whole history in order.
fn as_revisions(package: &str) -> Vec<kiln_core::validate::InputFile> {
    let files = corpus(package);
    let mut out = Vec::new();
    for (i, (name, text)) in files.iter().enumerate() {
        let id = format!("r{i:04}");
        let revises = if i == 0 { String::new() } else { format!("r{:04}", i - 1) };
        let transactional = !text.to_ascii_lowercase().contains("concurrently");
        let body = format!(
            "-- {name}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00\n-- Transactional: {transactional}\n-- Irreversible: true\n\n-- kiln:upgrade\n{text}\n"
        );
        out.push(kiln_core::validate::InputFile { name: format!("{id}_corpus.sql"), bytes: body.into_bytes(), path: None, is_dir: false });
    }
    out
}

/// Lints the corpus: every statement must parse (none is a syntax error),
/// the statements the runtime embeds are the parser's, and the report
/// of which rules fire is printed for the session notes.
#[test]
fn the_linter_reads_the_real_corpus() {
    let mut total = 0;
    let mut by_rule: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for package in ["procrastinate", "graphile-worker"] {
        for (name, text) in corpus(package) {
            let parsed = kiln_core::lint::sql::parse(&text);
            assert!(parsed.errors.is_empty(), "{package}/{name}: {:?}", parsed.errors);
            total += parsed.stmts.len();
        }
        let report = match kiln_core::validate::check_files(as_revisions(package), package) {
            Ok(set) => {
                let report = set.report.clone();
                for rev in set.leak().revisions() {
                    let start = rev.upgrade.0;
                    let parsed: Vec<(usize, usize)> = kiln_core::lint::sql::parse(rev.upgrade_sql())
                        .stmts
                        .iter()
                        .map(|s| {
                            (
                                s.span.start + start,
                                s.span.start + start + crate::pg::trimmed(&rev.source[s.span.start + start..s.span.end + start]),
                            )
                        })
                        .collect();
                    let embedded: Vec<(usize, usize)> = rev.upgrade_statements.iter().map(|s| (s.start, s.end)).collect();
                    assert_eq!(embedded, parsed, "{package}/{}: the runtime's statements are not the parser's", rev.message);
                }
                report
            }
            Err(report) => report,
        };
        for d in &report.diagnostics {
            *by_rule.entry(d.code).or_default() += 1;
            if std::env::var_os("KILN_CORPUS_VERBOSE").is_some() {
                eprintln!("{}\n", d.render(&report.sources));
            }
        }
    }
    println!("corpus: {total} statements parsed; findings by rule: {by_rule:?}");
    assert!(total >= 200, "{total}");
    assert!(!by_rule.contains_key("sql-syntax"), "{by_rule:?}");
}
