//! The test harness's PostgreSQL: one throwaway cluster per test binary
//! (started on first use, stopped by its watchdog when the binary exits),
//! and a fresh database per test so tests run in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use kiln::cluster::Cluster;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The shared cluster.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL for the tests: {e}")))
}

/// A new empty database; returns its URL.
pub fn fresh_db() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let c = cluster();
    let mut admin = postgres::Client::connect(&c.url("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    c.url(&name)
}

/// A client on a database.
pub fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// The version table's rows, sorted.
pub fn versions(client: &mut postgres::Client) -> Vec<String> {
    client
        .query("SELECT version_num FROM alembic_version ORDER BY 1", &[])
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default()
}

/// Tables in the public schema, sorted.
pub fn tables(client: &mut postgres::Client) -> Vec<String> {
    client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Writes a migrations directory under target/ and loads it like `--dir`.
pub fn write_dir(name: &str, files: &[(String, String)], config: Option<&str>) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kiln-test-dirs").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    if let Some(c) = config {
        std::fs::write(dir.join("kiln.toml"), c).unwrap();
    }
    dir
}

/// Loads a directory into an embedded-style set.
pub fn load(dir: &std::path::Path) -> kiln::Migrations {
    kiln_core::load_dir(dir, "migrations").unwrap_or_else(|r| panic!("{}", r.render())).leak()
}

/// A revision file's text.
pub fn revision(id: &str, revises: &[&str], extra_header: &str, up: &str, down: Option<&str>) -> (String, String) {
    let mut text = format!(
        "-- Revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {}\n-- Create Date: 2026-11-27 10:00:00\n{extra_header}\n-- kiln:upgrade\n{up}\n",
        revises.join(", ")
    );
    if let Some(d) = down {
        text.push_str(&format!("\n-- kiln:downgrade\n{d}\n"));
    }
    (format!("{id}_m.sql"), text)
}

/// Tables, columns, constraints and indexes of the public schema, as text.
pub fn schema(c: &mut postgres::Client) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in c
        .query(
            "SELECT c.oid::regclass::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             coalesce(pg_get_expr(d.adbin, d.adrelid), '') \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE c.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY 1, 2",
            &[],
        )
        .unwrap()
    {
        let (t, col, ty, nn, def): (String, String, String, bool, String) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        out.push(format!("column {t}.{col} {ty} notnull={nn} default={def}"));
    }
    for row in c
        .query(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2",
            &[],
        )
        .unwrap()
    {
        out.push(format!("constraint {} {} {}", row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)));
    }
    for row in c
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
            &[],
        )
        .unwrap()
    {
        out.push(format!("index {} {} valid={}", row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, bool>(2)));
    }
    out
}

/// The length of a statement's text without its terminating `;` (which the
/// parser's span includes and the runtime leaves out).
pub fn trimmed(text: &str) -> usize {
    text.trim_end_matches(|c: char| c == ';' || c.is_whitespace()).len()
}
