//! The test harness's PostgreSQL is `kiln::testing`'s: one throwaway
//! cluster per test binary (started on first use, stopped by its watchdog
//! when the binary exits), and a fresh database per test so tests run in
//! parallel.

use kiln::cluster::Cluster;

/// The shared cluster, for the tests that restart it or read its log.
pub fn cluster() -> &'static Cluster {
    kiln::testing::server().cluster().expect("this test restarts the server or reads its log: unset KILN_TEST_DATABASE_URL")
}

/// A new empty database, kept for the rest of the run; returns its URL.
pub fn fresh_db() -> String {
    kiln::testing::TestDatabase::empty().keep()
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

/// Panics with the objects that differ when `a` and `b` (database URLs)
/// do not hold the same schema; returns how many objects they hold.
pub fn assert_same_schema(a: &str, b: &str, what: &str) -> usize {
    let read = |url: &str| kiln::testing::Snapshot::of(&mut client(url), &kiln::Tables::default()).unwrap();
    let (x, y) = (read(a), read(b));
    if let Some(diff) = x.diff(&y, 20) {
        panic!("{what}: the schemas differ (- first, + second):\n{diff}");
    }
    x.keys().count()
}

/// The schema as `kiln::testing::Snapshot` reads it from the catalog
/// (kiln's own tables left out), one `key: line` per line.
pub fn schema(c: &mut postgres::Client) -> Vec<String> {
    let snapshot = kiln::testing::Snapshot::of(c, &kiln::Tables::default()).unwrap();
    snapshot.keys().flat_map(|k| snapshot.get(k).unwrap().iter().map(move |l| format!("{k}: {l}"))).collect()
}

/// The length of a statement's text without its terminating `;` (which the
/// parser's span includes and the runtime leaves out).
pub fn trimmed(text: &str) -> usize {
    text.trim_end_matches(|c: char| c == ';' || c.is_whitespace()).len()
}
