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
//! a non-transactional revision's, from `started` to `done`. It is a stored
//! format: columns are only ever added.

use std::fmt::Write as _;

use kiln_core::VersionOp;

/// `"ident"`, with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'literal'`, with embedded quotes doubled (standard_conforming_strings).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where kiln keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// `done` or `started`.
    pub status: &'a str,
    /// The file's checksum.
    pub checksum: &'a str,
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
                VersionOp::Update(from, to) => writeln!(
                    out,
                    "UPDATE {v} SET version_num = {} WHERE version_num = {};",
                    quote_literal(to),
                    quote_literal(from)
                ),
            };
        }
        out
    }

    /// Inserts a history row.
    pub fn history_insert_sql(&self, row: &HistoryRow<'_>) -> String {
        format!(
            "INSERT INTO {} (id, revision, direction, status, checksum, applied_at, duration_ms, applied_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {});\n",
            self.history(),
            quote_literal(&row.id),
            quote_literal(row.revision),
            quote_literal(row.direction),
            quote_literal(row.status),
            quote_literal(row.checksum),
            row.applied_at.as_deref().map_or_else(|| "now()".to_string(), quote_literal),
            match row.duration {
                Measured::Unknown => "NULL".to_string(),
                Measured::Millis(ms) => ms.to_string(),
                Measured::SinceQueryStart => "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint".to_string(),
            },
            quote_literal(row.applied_by),
        )
    }

    /// Marks a `started` row as `done`.
    pub fn history_done_sql(&self, id: &str, duration_ms: u128) -> String {
        format!(
            "UPDATE {} SET status = 'done', duration_ms = {duration_ms} WHERE id = {};\n",
            self.history(),
            quote_literal(id)
        )
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

    /// Reads the version table and the state row: an idle start's one round trip.
    pub fn select_quick_sql(&self) -> String {
        format!("{}\nSELECT fingerprint, in_progress FROM {};", self.select_versions_sql(), self.state())
    }

    /// Reads the version table.
    pub fn select_versions_sql(&self) -> String {
        format!("SELECT version_num FROM {} ORDER BY version_num COLLATE \"C\";", self.version())
    }

    /// Reads the latest history row of every revision, leaving out rows an
    /// operator marked `abandoned` after an interruption.
    pub fn select_latest_history_sql(&self) -> String {
        format!(
            "SELECT DISTINCT ON (revision) revision, direction, status, checksum, applied_at::text FROM {} \
             WHERE status <> 'abandoned' ORDER BY revision, applied_at DESC, id DESC;",
            self.history()
        )
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

/// A new ULID from the clock and [`random_bits`].
pub fn new_ulid() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    ulid::Ulid::from_parts(now.as_millis() as u64, random_bits()).to_string()
}

/// 128 unpredictable-enough bits from std's randomly keyed SipHash, the
/// clock, the process id and a counter (no RNG crate): for ids, not secrets.
pub fn random_bits() -> u128 {
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
    fn ulids_are_26_chars_and_distinct() {
        let a = new_ulid();
        let b = new_ulid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
