//! The SQL kiln runs against its own tables, for the online runner and the
//! offline script alike.
//!
//! **The version table** is Alembic's, unchanged, so a database can move
//! between Alembic and kiln: `version_num VARCHAR(32)` with primary key
//! `<table>_pkc`, one row per current head.
//!
//! **The history table** follows Kartograph's conventions: a ULID
//! `VARCHAR(26)` key, `TIMESTAMPTZ`, `pk_`/`ix_` names. One row per step
//! (`upgrade`, `downgrade`, `stamp`, `accept`); rows are never updated except
//! a non-transactional revision's, which records its progress statement by
//! statement (`statements_done`, added in kiln 0.1.1: `NULL` on older rows)
//! and moves from `started` (or `failed`, `retry`) to `done` or `abandoned`,
//! and a row written before `checksum_v2` existed (kiln 0.1.2), which gets
//! its executable checksum filled in once.
//! It is a stored format: columns are only ever added, and the status
//! spellings of [`Status`] never change.

use std::fmt::Write as _;

use kiln_core::VersionOp;

/// `"ident"`, with embedded quotes doubled.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'literal'`, with embedded quotes doubled (standard_conforming_strings).
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where kiln keeps its state: `Tables::default()` and the `with_*`
/// builders (`#[non_exhaustive]`).
///
/// ```
/// let tables = kiln::Tables::default().with_schema("ops").with_version_table("alembic_version");
/// assert_eq!(tables.version(), r#""ops"."alembic_version""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tables {
    /// Schema of both tables; `None` uses the connection's `search_path`.
    pub schema: Option<String>,
    /// The Alembic version table (`alembic_version`).
    pub version_table: String,
    /// kiln's history table (`kiln_history`).
    pub history_table: String,
    /// kiln's one-row summary (`kiln_state`): the fingerprint of what is
    /// applied, so an idle start compares one short row instead of reading
    /// the history.
    pub state_table: String,
}

impl Tables {
    /// The schema of kiln's tables (default: the connection's `search_path`).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The version table's name (default `alembic_version`).
    pub fn with_version_table(mut self, name: impl Into<String>) -> Self {
        self.version_table = name.into();
        self
    }

    /// The history table's name (default `kiln_history`).
    pub fn with_history_table(mut self, name: impl Into<String>) -> Self {
        self.history_table = name.into();
        self
    }

    /// The state table's name (default `kiln_state`).
    pub fn with_state_table(mut self, name: impl Into<String>) -> Self {
        self.state_table = name.into();
        self
    }
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            schema: None,
            version_table: "alembic_version".into(),
            history_table: "kiln_history".into(),
            state_table: "kiln_state".into(),
        }
    }
}

/// The `status` column of a history row. The spellings are stored: they
/// never change, and a new state is a new variant.
///
/// | status | meaning | next |
/// |---|---|---|
/// | `done` | the step completed | (final) |
/// | `started` | a non-transactional revision is running, or its run died; the statement at `statements_done` may have been in flight | `done`, `failed`, `retry`, `abandoned` |
/// | `failed` | PostgreSQL refused the statement at `statements_done`; it did not take effect | `started` (the next run resumes), `retry`, `abandoned` |
/// | `retry` | an operator said to run the statement at `statements_done` (again) | `started`, `abandoned` |
/// | `abandoned` | an operator gave the run up; the rows are ignored | (final) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The step completed.
    Done,
    /// A non-transactional revision is running, or its run died.
    Started,
    /// A statement of a non-transactional revision failed.
    Failed,
    /// An operator asked for the next statement to run.
    Retry,
    /// An operator gave the run up.
    Abandoned,
}

impl Status {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Started => "started",
            Status::Failed => "failed",
            Status::Retry => "retry",
            Status::Abandoned => "abandoned",
        }
    }

    /// Reads a stored spelling.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Done, Status::Started, Status::Failed, Status::Retry, Status::Abandoned].into_iter().find(|x| x.as_str() == s)
    }

    /// True while a non-transactional revision is part-way through.
    pub fn in_progress(self) -> bool {
        matches!(self, Status::Started | Status::Failed | Status::Retry)
    }
}

/// How a history row's `duration_ms` is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measured {
    /// Not known (stamps, offline scripts): `NULL`.
    Unknown,
    /// Measured by the client.
    Millis(u128),
    /// Measured by the server: the time since the current query string
    /// arrived, for a row inserted after the revision's SQL in the same string.
    SinceQueryStart,
}

/// One row kiln writes to the history table.
#[derive(Clone, Debug)]
pub struct HistoryRow<'a> {
    /// ULID.
    pub id: String,
    /// The revision.
    pub revision: &'a str,
    /// `upgrade`, `downgrade`, `stamp` or `accept`.
    pub direction: &'a str,
    /// Its status.
    pub status: Status,
    /// The file's checksum.
    pub checksum: &'a str,
    /// The executable checksum (`kiln_core::checksum::executable`), when the
    /// build computed one (`checksum_v2`, added in kiln 0.1.2).
    pub checksum_v2: Option<&'a str>,
    /// When, as RFC 3339 from the applying process's clock (chrono);
    /// `None` takes the server's `now()` (offline scripts).
    pub applied_at: Option<String>,
    /// How long the step took.
    pub duration: Measured,
    /// Which binary.
    pub applied_by: &'a str,
}

impl Tables {
    fn qualified(&self, table: &str) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(table)),
            None => quote_ident(table),
        }
    }

    /// The version table, quoted and qualified.
    pub fn version(&self) -> String {
        self.qualified(&self.version_table)
    }

    /// The history table, quoted and qualified.
    pub fn history(&self) -> String {
        self.qualified(&self.history_table)
    }

    /// The state table, quoted and qualified.
    pub fn state(&self) -> String {
        self.qualified(&self.state_table)
    }

    /// One row, one column: `t` when every table, index and column of
    /// [`Tables::create_sql`] exists. The runner asks this first and sends
    /// the creation script only when something is missing, because `ALTER
    /// TABLE ... ADD COLUMN IF NOT EXISTS` takes an ACCESS EXCLUSIVE lock
    /// even when the column is there (it would queue behind any open
    /// transaction that read the history, and block every reader behind it).
    pub fn complete_sql(&self) -> String {
        let index = self.qualified(&format!("ix_{}_revision", self.history_table));
        format!(
            "SELECT (to_regclass({v}) IS NOT NULL AND to_regclass({s}) IS NOT NULL AND to_regclass({ix}) IS NOT NULL \
             AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass({h}) AND attname IN ('statements_done', 'checksum_v2') AND NOT attisdropped) = 2)::text;",
            v = quote_literal(&self.version()),
            s = quote_literal(&self.state()),
            ix = quote_literal(&index),
            h = quote_literal(&self.history()),
        )
    }

    /// Creates the tables if they do not exist.
    pub fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {v} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {vpk} PRIMARY KEY (version_num));\n\
             CREATE TABLE IF NOT EXISTS {h} (\n    \
                 id VARCHAR(26) NOT NULL,\n    \
                 revision VARCHAR(32) NOT NULL,\n    \
                 direction VARCHAR(16) NOT NULL,\n    \
                 status VARCHAR(16) NOT NULL,\n    \
                 checksum VARCHAR(64) NOT NULL,\n    \
                 applied_at TIMESTAMPTZ NOT NULL,\n    \
                 duration_ms BIGINT,\n    \
                 applied_by VARCHAR(255) NOT NULL,\n    \
                 CONSTRAINT {hpk} PRIMARY KEY (id)\n);\n\
             CREATE INDEX IF NOT EXISTS {hix} ON {h} (revision);\n\
             ALTER TABLE {h} ADD COLUMN IF NOT EXISTS statements_done INTEGER;\n\
             ALTER TABLE {h} ADD COLUMN IF NOT EXISTS checksum_v2 VARCHAR(64);\n\
             CREATE TABLE IF NOT EXISTS {s} (\n    \
                 id BOOLEAN NOT NULL DEFAULT true,\n    \
                 fingerprint VARCHAR(64) NOT NULL,\n    \
                 in_progress VARCHAR(32),\n    \
                 updated_at TIMESTAMPTZ NOT NULL,\n    \
                 CONSTRAINT {spk} PRIMARY KEY (id),\n    \
                 CONSTRAINT {sck} CHECK (id)\n);\n",
            v = self.version(),
            vpk = quote_ident(&format!("{}_pkc", self.version_table)),
            h = self.history(),
            hpk = quote_ident(&format!("pk_{}", self.history_table)),
            hix = quote_ident(&format!("ix_{}_revision", self.history_table)),
            s = self.state(),
            spk = quote_ident(&format!("pk_{}", self.state_table)),
            sck = quote_ident(&format!("ck_{}_id", self.state_table)),
        )
    }

    /// One statement per version-table operation, as Alembic issues them.
    pub fn version_ops_sql(&self, ops: &[VersionOp]) -> String {
        let v = self.version();
        let mut out = String::new();
        for op in ops {
            let _ = match op {
                VersionOp::Insert(id) => writeln!(out, "INSERT INTO {v} (version_num) VALUES ({});", quote_literal(id)),
                VersionOp::Delete(id) => writeln!(out, "DELETE FROM {v} WHERE version_num = {};", quote_literal(id)),
                VersionOp::Update(from, to) => {
                    writeln!(out, "UPDATE {v} SET version_num = {} WHERE version_num = {};", quote_literal(to), quote_literal(from))
                }
            };
        }
        out
    }

    /// Inserts a history row.
    pub fn history_insert_sql(&self, row: &HistoryRow<'_>) -> String {
        format!(
            "INSERT INTO {} (id, revision, direction, status, checksum, checksum_v2, applied_at, duration_ms, applied_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {});\n",
            self.history(),
            quote_literal(&row.id),
            quote_literal(row.revision),
            quote_literal(row.direction),
            quote_literal(row.status.as_str()),
            quote_literal(row.checksum),
            row.checksum_v2.map_or_else(|| "NULL".to_string(), quote_literal),
            row.applied_at.as_deref().map_or_else(|| "now()".to_string(), quote_literal),
            match row.duration {
                Measured::Unknown => "NULL".to_string(),
                Measured::Millis(ms) => ms.to_string(),
                Measured::SinceQueryStart => "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint".to_string(),
            },
            quote_literal(row.applied_by),
        )
    }

    /// Records that a non-transactional revision's first `done` statements
    /// have taken effect.
    pub fn history_progress_sql(&self, id: &str, done: usize) -> String {
        format!("UPDATE {} SET statements_done = {done} WHERE id = {};\n", self.history(), quote_literal(id))
    }

    /// Moves an in-progress row to another status (and, when given, its
    /// progress and the checksum of the file it goes on with).
    pub fn history_status_sql(&self, id: &str, status: Status, done: Option<usize>, checksums: Option<(&str, Option<&str>)>) -> String {
        let progress = done.map_or(String::new(), |d| format!(", statements_done = {d}"));
        let checksum = checksums.map_or(String::new(), |(c, v2)| {
            format!(", checksum = {}, checksum_v2 = {}", quote_literal(c), v2.map_or_else(|| "NULL".to_string(), quote_literal))
        });
        format!(
            "UPDATE {} SET status = {}{progress}{checksum} WHERE id = {};\n",
            self.history(),
            quote_literal(status.as_str()),
            quote_literal(id)
        )
    }

    /// Fills in the executable checksum of a row written before the column
    /// existed (the only other update a finished row gets): its recorded
    /// file checksum matched the file, so the file's v2 is what ran.
    pub fn history_checksum_v2_sql(&self, id: &str, checksum_v2: &str) -> String {
        format!(
            "UPDATE {} SET checksum_v2 = {} WHERE id = {} AND checksum_v2 IS NULL;\n",
            self.history(),
            quote_literal(checksum_v2),
            quote_literal(id)
        )
    }

    /// Marks a `started` row as `done`.
    pub fn history_done_sql(&self, id: &str, duration_ms: u128) -> String {
        format!("UPDATE {} SET status = 'done', duration_ms = {duration_ms} WHERE id = {};\n", self.history(), quote_literal(id))
    }

    /// Writes the state row.
    pub fn state_upsert_sql(&self, fingerprint: &str, in_progress: Option<&str>) -> String {
        format!(
            "INSERT INTO {s} (id, fingerprint, in_progress, updated_at) VALUES (true, {f}, {p}, now()) \
             ON CONFLICT (id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, in_progress = EXCLUDED.in_progress, updated_at = EXCLUDED.updated_at;",
            s = self.state(),
            f = quote_literal(fingerprint),
            p = in_progress.map_or_else(|| "NULL".to_string(), quote_literal),
        )
    }

    /// Reads the version table and the state row: an idle start's one round
    /// trip. Each table comes back whole as XML (`table_to_xml`, which is
    /// strict: `NULL` when `to_regclass` finds no such table), so probing a
    /// fresh database writes no error into the server's log; read the
    /// values out of `<version_num>` and `<fingerprint>` elements.
    pub fn select_quick_sql(&self) -> String {
        format!(
            "SELECT table_to_xml(to_regclass({}), true, false, '')::text, table_to_xml(to_regclass({}), true, false, '')::text;",
            quote_literal(&self.version()),
            quote_literal(&self.state())
        )
    }

    /// Whether the version table and the history table exist (`t`/`f`).
    pub fn select_existing_sql(&self) -> String {
        format!(
            "SELECT to_regclass({}) IS NOT NULL, to_regclass({}) IS NOT NULL;",
            quote_literal(&self.version()),
            quote_literal(&self.history())
        )
    }

    /// Reads the version table.
    pub fn select_versions_sql(&self) -> String {
        format!("SELECT version_num FROM {} ORDER BY version_num COLLATE \"C\";", self.version())
    }

    /// Reads the latest history row of every revision, leaving out rows an
    /// operator marked `abandoned` after an interruption. `statements_done`
    /// is read through `to_jsonb` so that a table an older kiln created
    /// (without the column, until this kiln's first locked run adds it)
    /// reads the same.
    pub fn select_latest_history_sql(&self) -> String {
        format!(
            "SELECT DISTINCT ON (revision) revision, direction, status, checksum, applied_at::text, id, to_jsonb(h) ->> 'statements_done', \
             to_jsonb(h) ->> 'checksum_v2' FROM {} h \
             WHERE status <> 'abandoned' ORDER BY revision, applied_at DESC, id DESC;",
            self.history()
        )
    }

    /// Checks the names before anything runs: PostgreSQL silently truncates
    /// identifiers to 63 bytes, so a long name (or one that becomes long as
    /// `pk_<table>`) could name another table than the one kiln means.
    ///
    /// ```
    /// let mut t = kiln::Tables::default();
    /// assert!(t.validate().is_ok());
    /// t.version_table = "".into();
    /// assert!(t.validate().unwrap_err().contains("empty"));
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        let derived = [
            ("--version-table", self.version_table.clone(), format!("{}_pkc", self.version_table)),
            ("the history table", self.history_table.clone(), format!("ix_{}_revision", self.history_table)),
            ("the state table", self.state_table.clone(), format!("pk_{}", self.state_table)),
        ];
        if let Some(schema) = &self.schema {
            check_name("--schema", schema, schema)?;
        }
        for (what, name, longest) in derived {
            check_name(what, &name, &longest)?;
        }
        Ok(())
    }

    /// The advisory-lock key for these tables: a constant namespace plus the
    /// schema and table name, so tenants in other schemas do not block each
    /// other. FNV-1a, pinned: every kiln version must compute the same key
    /// for the same tables, or two versions could migrate at once.
    pub fn lock_key(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let text = format!("kiln-migrations\0{}\0{}", self.schema.as_deref().unwrap_or(""), self.version_table);
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h as i64
    }
}

/// The text of every `<element>...</element>` in `table_to_xml` output, in
/// order; a `NULL` (`<element xsi:nil="true"/>`) is left out. `None` when a
/// value holds an escape other than XML's five named ones, so that a caller
/// comparing values falls back to a plain query rather than guess.
pub(crate) fn xml_values(xml: &str, element: &str) -> Option<Vec<String>> {
    let (open, close) = (format!("<{element}>"), format!("</{element}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close)?;
        let raw = &after[..end];
        let value = raw.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'");
        if value.replace("&amp;", "").contains('&') {
            return None;
        }
        out.push(value.replace("&amp;", "&"));
        rest = &after[end + close.len()..];
    }
    Some(out)
}

fn check_name(what: &str, name: &str, longest: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty; give a table name such as `alembic_version`"));
    }
    if name.contains('\0') {
        return Err(format!("{what} `{}` contains a NUL byte", name.escape_debug()));
    }
    if longest.len() > 63 {
        return Err(format!(
            "{what} `{name}` is too long: PostgreSQL truncates names to 63 bytes, and `{longest}` ({} bytes) would not be what kiln asks for; use a shorter name",
            longest.len()
        ));
    }
    Ok(())
}

/// A new ULID from the clock and [`random_bits`], monotonic within this
/// process: ids made in the same millisecond (or after the clock stepped
/// back) increase, so ordering history rows by id is the order they were
/// made in.
pub(crate) fn new_ulid() -> String {
    static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let fresh = ulid::Ulid::from_parts(now.as_millis() as u64, random_bits()).0;
    let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Within the same millisecond (or behind the last one), count up from the
    // last id: the random part grows by a random step below 2^32.
    let next = if fresh >> 80 <= *last >> 80 { *last + 1 + (fresh & 0xffff_ffff) } else { fresh };
    *last = next;
    ulid::Ulid(next).to_string()
}

/// 128 unpredictable-enough bits from std's randomly keyed SipHash, the
/// clock, the process id and a counter (no RNG crate): for ids, not secrets.
pub(crate) fn random_bits() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut random: u128 = 0;
    for part in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now.as_nanos());
        h.write_u32(std::process::id());
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u8(part);
        random = (random << 64) | u128::from(h.finish());
    }
    random
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_keys_differ_per_schema() {
        let t = Tables { schema: Some("tenant \"a\"".into()), ..Tables::default() };
        assert_eq!(t.version(), "\"tenant \"\"a\"\"\".\"alembic_version\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_ne!(t.lock_key(), Tables::default().lock_key());
        assert_eq!(Tables::default().lock_key(), Tables::default().lock_key());
    }

    #[test]
    fn xml_values_reads_elements_and_skips_nulls() {
        let xml = "<t><row><v>a&amp;b</v><n xsi:nil=\"true\"/></row><row><v>c</v></row></t>";
        assert_eq!(xml_values(xml, "v"), Some(vec!["a&b".to_string(), "c".to_string()]));
        assert_eq!(xml_values(xml, "n"), Some(vec![]));
        assert_eq!(xml_values("<v>&#233;</v>", "v"), None, "an escape it does not know: fall back");
    }

    #[test]
    fn ulids_are_26_chars_and_increase() {
        let ids: Vec<String> = (0..10_000).map(|_| new_ulid()).collect();
        assert!(ids.iter().all(|i| i.len() == 26));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ULIDs made in one millisecond must increase");
    }

    #[test]
    fn names_that_postgres_would_truncate_are_refused() {
        let t = Tables { version_table: "v".repeat(60), ..Tables::default() };
        assert!(t.validate().unwrap_err().contains("63 bytes"));
        let t = Tables { version_table: "v".repeat(59), ..Tables::default() };
        assert!(t.validate().is_ok());
        let t = Tables { schema: Some(String::new()), ..Tables::default() };
        assert!(t.validate().is_err());
    }
}
