//! A section's statements as the runner sends them: their byte ranges and
//! what each does to a transaction.
//!
//! There is one statement splitter in kiln, and it is the build's SQL parser
//! (squawk, behind the `lint` feature): [`statements`] lowers its statement
//! nodes to plain ranges and kinds, the code generator embeds them in the
//! generated table, and `--dir` computes them the same way. The runtime never
//! cuts SQL itself, so what it sends one statement at a time is exactly what
//! the build checked (a `BEGIN ATOMIC ... END` function body stays whole).
//!
//! ```
//! # #[cfg(feature = "lint")] {
//! use kiln_core::sql::{statements, StatementKind};
//! let sql = "CREATE INDEX CONCURRENTLY ix_users_email ON users (email);\nVACUUM users;";
//! let found = statements(sql);
//! assert_eq!(&sql[found[0].start..found[0].end], "CREATE INDEX CONCURRENTLY ix_users_email ON users (email)");
//! assert!(matches!(&found[0].kind, StatementKind::CreateIndexConcurrently { index, .. } if index == "ix_users_email"));
//! assert_eq!(found[1].kind, StatementKind::Repeatable);
//! # }
//! ```

/// One statement: a byte range (without its `;` and surrounding comments)
/// and its kind. Embedded tables hold `Statement<&'static str>` with ranges
/// in the revision's file text; [`statements`] returns ranges in the text it
/// was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statement<S = &'static str> {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// What it does to a transaction, and how an interrupted run finds out
    /// whether it took effect.
    pub kind: StatementKind<S>,
}

/// What a statement does to a transaction. For a statement PostgreSQL
/// refuses inside a transaction block, the kind also says how a run that
/// was interrupted while it ran tells whether it took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind<S = &'static str> {
    /// Runs inside a transaction block: a non-transactional revision sends
    /// it in one query string with its progress record, so both happen or
    /// neither does.
    Plain,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `PREPARE TRANSACTION`,
    /// `COMMIT/ROLLBACK PREPARED`: allowed only in a non-transactional revision.
    TransactionControl,
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY <index> ON <table>`: done when the
    /// index exists and is valid; an INVALID one is dropped and built again.
    CreateIndexConcurrently {
        /// The table, quoted and qualified as written (`"public"."users"`).
        table: S,
        /// The index name, folded as PostgreSQL folds it.
        index: S,
    },
    /// `DROP INDEX CONCURRENTLY <index>`: done when the index is gone.
    DropIndexConcurrently {
        /// The index, quoted and qualified as written.
        index: S,
    },
    /// Refused in a transaction block, and harmless to run again
    /// (`VACUUM`, `ALTER SYSTEM`, `REINDEX ... CONCURRENTLY`, `CLUSTER`,
    /// `DISCARD ALL`).
    Repeatable,
    /// Refused in a transaction block, and whether an interrupted one took
    /// effect cannot be told (`CREATE DATABASE`, `DROP TABLESPACE`...): the
    /// operator decides.
    Outside,
}

impl<S> StatementKind<S> {
    /// True when the statement can share a query string (an implicit
    /// transaction) with the progress record that follows it.
    pub fn shares_transaction(&self) -> bool {
        matches!(self, StatementKind::Plain | StatementKind::TransactionControl)
    }

    /// True when whether it took effect can be told after the fact, or
    /// running it again is harmless: what an interrupted run without
    /// recorded progress can check statement by statement.
    pub fn checkable(&self) -> bool {
        matches!(
            self,
            StatementKind::CreateIndexConcurrently { .. } | StatementKind::DropIndexConcurrently { .. } | StatementKind::Repeatable
        )
    }

    /// The same kind with its names mapped (owned text to `&'static str`).
    pub fn map<T>(self, mut f: impl FnMut(S) -> T) -> StatementKind<T> {
        match self {
            StatementKind::Plain => StatementKind::Plain,
            StatementKind::TransactionControl => StatementKind::TransactionControl,
            StatementKind::CreateIndexConcurrently { table, index } => {
                StatementKind::CreateIndexConcurrently { table: f(table), index: f(index) }
            }
            StatementKind::DropIndexConcurrently { index } => StatementKind::DropIndexConcurrently { index: f(index) },
            StatementKind::Repeatable => StatementKind::Repeatable,
            StatementKind::Outside => StatementKind::Outside,
        }
    }
}

/// `text` with its psql meta-command lines (`\restrict`, which a recent
/// `pg_dump` writes) blanked: spaces, so that offsets into it stay those of
/// `text`. What a schema file holds that is not SQL.
///
/// ```
/// let dump = "\\restrict abc\nCREATE TABLE t (id int);\n";
/// assert_eq!(kiln_core::sql::without_meta_commands(dump), "             \nCREATE TABLE t (id int);\n");
/// ```
pub fn without_meta_commands(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| if l.starts_with('\\') { l.chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect() } else { l.to_string() })
        .collect()
}

/// The statements of one section of SQL, as the build's parser sees them
/// (ranges relative to `sql`). Text that does not parse still yields the
/// statements the parser recovered; the build refuses such a file anyway.
#[cfg(feature = "lint")]
pub fn statements(sql: &str) -> Vec<Statement<String>> {
    of_parsed(&crate::lint::sql::parse(sql), sql)
}

/// [`statements`] from an already parsed section of `sql`. The range leaves
/// out the statement's terminating `;`, which the parser counts in.
#[cfg(feature = "lint")]
pub fn of_parsed(parsed: &crate::lint::sql::Parsed, sql: &str) -> Vec<Statement<String>> {
    use crate::lint::sql::{Op, Tx};
    let quoted = |q: &crate::lint::sql::QName| {
        let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        match &q.schema {
            Some(s) => format!("{}.{}", ident(s), ident(&q.name)),
            None => ident(&q.name),
        }
    };
    parsed
        .stmts
        .iter()
        .map(|st| {
            let kind = match (&st.tx, &st.op) {
                (Tx::Plain, _) => StatementKind::Plain,
                (Tx::Control(_), _) => StatementKind::TransactionControl,
                (Tx::Outside { .. }, Op::CreateIndex(ci)) => match &ci.name {
                    Some(name) => StatementKind::CreateIndexConcurrently { table: quoted(&ci.table), index: name.value.clone() },
                    None => StatementKind::Outside,
                },
                (Tx::Outside { .. }, Op::DropIndex { indexes, .. }) if indexes.len() == 1 => {
                    StatementKind::DropIndexConcurrently { index: quoted(&indexes[0]) }
                }
                (Tx::Outside { repeatable: true, .. }, _) => StatementKind::Repeatable,
                (Tx::Outside { .. }, _) => StatementKind::Outside,
            };
            let text = sql.get(st.span.clone()).unwrap_or("");
            let end = st.span.start + text.trim_end_matches(|c: char| c == ';' || c.is_whitespace()).len();
            Statement { start: st.span.start, end, kind }
        })
        .collect()
}

#[cfg(all(test, feature = "lint"))]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        statements(sql).into_iter().map(|s| &sql[s.start..s.end]).collect()
    }

    #[test]
    fn quotes_comments_and_bodies_hide_semicolons() {
        let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\n-- c; d\nDROP INDEX CONCURRENTLY b; /* x; /* y; */ z; */ SELECT 'a;b', \"q;\", E'\\';', $$ ; $$, $f$ ; $f$ ;\n-- only a comment;\n";
        assert_eq!(
            texts(sql),
            ["CREATE INDEX CONCURRENTLY a ON t (x)", "DROP INDEX CONCURRENTLY b", "SELECT 'a;b', \"q;\", E'\\';', $$ ; $$, $f$ ; $f$"]
        );
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let sql = "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + b; SELECT 1; END;\nSELECT add(1, 2);";
        assert_eq!(
            texts(sql),
            ["CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + b; SELECT 1; END", "SELECT add(1, 2)"]
        );
    }

    #[test]
    fn kinds() {
        let kinds: Vec<StatementKind<String>> = statements(
            "BEGIN; COMMIT; ROLLBACK TO SAVEPOINT s; CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"Ix\" ON s.t (a); \
             DROP INDEX CONCURRENTLY IF EXISTS s.ix; VACUUM t; CREATE DATABASE d; CREATE INDEX CONCURRENTLY ON t (a); UPDATE t SET a = 1",
        )
        .into_iter()
        .map(|s| s.kind)
        .collect();
        assert_eq!(
            kinds,
            [
                StatementKind::TransactionControl,
                StatementKind::TransactionControl,
                StatementKind::Plain,
                StatementKind::CreateIndexConcurrently { table: "\"s\".\"t\"".into(), index: "Ix".into() },
                StatementKind::DropIndexConcurrently { index: "\"s\".\"ix\"".into() },
                StatementKind::Repeatable,
                StatementKind::Outside,
                StatementKind::Outside,
                StatementKind::Plain,
            ]
        );
    }
}
