//! Schema linting: every revision's SQL parsed, replayed into a schema model
//! in graph order, and checked against Kartograph's conventions,
//! reversibility and PostgreSQL's live-database safety rules.
//!
//! The rule table ([`RULES`]) and levels are always compiled, so that
//! `kiln.toml` is validated the same way everywhere; the checking itself
//! needs the `lint` feature (the squawk parser).
//!
//! A rule's level comes from its default, overridden under `[lints]` in
//! `kiln.toml`; one statement opts out with a comment naming the rule:
//!
//! ```sql
//! -- kiln:allow(drop-column-or-table)
//! ALTER TABLE users DROP COLUMN legacy_flag;
//! ```

#[cfg(feature = "lint")]
mod autogen;
#[cfg(feature = "lint")]
mod cache;
#[cfg(feature = "lint")]
mod check;
#[cfg(feature = "lint")]
mod declared;
#[cfg(feature = "lint")]
pub(crate) mod model;
#[cfg(feature = "lint")]
pub(crate) mod names;
#[cfg(feature = "lint")]
#[doc(hidden)]
pub mod sql;

#[cfg(feature = "lint")]
pub use autogen::{autogenerate, Autogenerate, ColumnRename, Generated, Part};
#[cfg(feature = "lint")]
pub(crate) use cache::{Cache, FILE as CACHE_FILE};
#[cfg(feature = "lint")]
pub(crate) use check::{lint, parse_all, Parsedrev, Pipeline};

/// Without the `lint` feature nothing is parsed, so nothing is cached.
#[cfg(not(feature = "lint"))]
pub(crate) struct Cache;

#[cfg(not(feature = "lint"))]
impl Cache {
    pub(crate) fn open(_: &std::path::Path) -> Cache {
        Cache
    }
}

#[cfg(not(feature = "lint"))]
pub(crate) const CACHE_FILE: &str = "kiln_lint_cache.bin";

/// Without the `lint` feature there is no SQL to parse: the pipeline
/// validation feeds does nothing.
#[cfg(not(feature = "lint"))]
pub(crate) struct Pipeline<'scope>(std::marker::PhantomData<&'scope ()>);

#[cfg(not(feature = "lint"))]
impl<'scope> Pipeline<'scope> {
    pub(crate) fn start<'env>(_: &'scope std::thread::Scope<'scope, 'env>, _: bool, _: Option<&'scope Cache>) -> Pipeline<'scope> {
        Pipeline(std::marker::PhantomData)
    }

    pub(crate) fn send_file(&self, _: &str, _: &[u8]) {}
}

/// Runs the lint pass alone over a set that already passed validation (as
/// [`crate::validate::load_dir`] does), returning its findings: for
/// benchmarks and tools that want the lint report apart from the rest.
#[cfg(feature = "lint")]
pub fn check(set: &crate::validate::RevisionSet) -> crate::diagnostic::Report {
    let mut report = crate::diagnostic::Report { sources: set.report.sources.clone(), ..Default::default() };
    lint(&set.revisions, &parse_all(&set.revisions), &set.graph, &set.config, None, &mut report.diagnostics);
    report
}

/// How a rule's findings are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Not reported.
    Allow,
    /// Reported as a warning; the build goes on.
    Warn,
    /// Fails the build.
    Error,
}

impl Level {
    /// Parses `"allow"`, `"warn"` or `"error"`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    /// The name used in `kiln.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Allow => "allow",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A rule: its stable name (the diagnostic code), default level and what it checks.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable name, such as `index-name`; rendered as `kiln::index-name`.
    pub name: &'static str,
    /// Level unless `kiln.toml` says otherwise.
    pub default: Level,
    /// One line on what it checks.
    pub summary: &'static str,
}

/// Every lint rule. Conventions and correctness are errors by default; the
/// data/schema mix and live-database safety rules are warnings.
pub const RULES: &[Rule] = &[
    Rule { name: "sql-syntax", default: Level::Error, summary: "the SQL does not parse as PostgreSQL" },
    Rule {
        name: "sql-too-complex",
        default: Level::Error,
        summary: "the SQL nests deeper than kiln's parser goes (parentheses, or a chain of thousands of operators; cannot be allowed)",
    },
    Rule { name: "table-name", default: Level::Error, summary: "tables are plural snake_case (`api_keys`)" },
    Rule { name: "index-name", default: Level::Error, summary: "indexes are named `ix_<table>_<column>[_<column>...]` (unique ones may use `uq_`)" },
    Rule { name: "foreign-key-name", default: Level::Error, summary: "foreign keys are named `fk_<table>_<column>_<referenced_table>`" },
    Rule { name: "unique-name", default: Level::Error, summary: "unique constraints are named `uq_<table>_<column>[_<column>...]`" },
    Rule {
        name: "primary-key-name",
        default: Level::Error,
        summary: "primary keys follow the `pk` template of `[naming_convention]`, when kiln.toml sets one",
    },
    Rule { name: "check-name", default: Level::Error, summary: "check constraints follow the `ck` template of `[naming_convention]`, when kiln.toml sets one" },
    Rule {
        name: "declared-schema",
        default: Level::Error,
        summary: "the migrations' head is the schema kiln.toml's `schema` file declares (tables, columns, constraints, indexes, objects)",
    },
    Rule { name: "timestamptz", default: Level::Error, summary: "no `TIMESTAMP` without time zone" },
    Rule { name: "ulid-primary-key", default: Level::Error, summary: "an `id` primary key is a ULID: `VARCHAR(26)` or `CHAR(26)`" },
    Rule { name: "foreign-key-type", default: Level::Error, summary: "a foreign-key column has the type of the column it references" },
    Rule {
        name: "not-null-default",
        default: Level::Error,
        summary: "`ADD COLUMN ... NOT NULL` on a table an earlier revision created needs a `DEFAULT`",
    },
    Rule { name: "reversible", default: Level::Error, summary: "upgrade then downgrade gives back the schema as it was" },
    Rule {
        name: "concurrently-in-transaction",
        default: Level::Error,
        summary: "`CONCURRENTLY` needs a revision with `Transactional: false` (cannot be allowed)",
    },
    Rule {
        name: "transaction-control",
        default: Level::Error,
        summary: "a transactional revision does not end or open its transaction (`COMMIT`, `ROLLBACK`, `BEGIN`...; cannot be allowed)",
    },
    Rule {
        name: "no-transaction-block",
        default: Level::Error,
        summary: "what PostgreSQL refuses in a transaction (`VACUUM`, `CREATE DATABASE`, `ALTER SYSTEM`...) needs `Transactional: false` (cannot be allowed)",
    },
    Rule { name: "mixed-data-schema", default: Level::Warn, summary: "data changes (INSERT/UPDATE/DELETE) belong in their own revision" },
    Rule {
        name: "index-concurrently",
        default: Level::Warn,
        summary: "`CREATE INDEX` on an existing table without `CONCURRENTLY` blocks writes",
    },
    Rule {
        name: "constraint-not-valid",
        default: Level::Warn,
        summary: "a foreign key or check added to an existing table without `NOT VALID` scans it under lock",
    },
    Rule {
        name: "alter-column-type",
        default: Level::Warn,
        summary: "`ALTER COLUMN ... TYPE` rewrites an existing table under lock (not for binary-coercible changes: varchar widening, varchar to text, numeric precision up)",
    },
    Rule {
        name: "drop-index-concurrently",
        default: Level::Warn,
        summary: "`DROP INDEX` on an existing table without `CONCURRENTLY` blocks its reads and writes",
    },
    Rule {
        name: "unique-constraint-lock",
        default: Level::Warn,
        summary: "`ADD CONSTRAINT ... UNIQUE`, `PRIMARY KEY` or `EXCLUDE` on an existing table builds its index while blocking writes",
    },
    Rule { name: "set-not-null", default: Level::Warn, summary: "`SET NOT NULL` on an existing table scans it under an ACCESS EXCLUSIVE lock" },
    Rule { name: "json-type", default: Level::Warn, summary: "a `json` column has no equality operator (no `DISTINCT`, `GROUP BY`, unique index); use `jsonb`" },
    Rule {
        name: "identifier-too-long",
        default: Level::Warn,
        summary: "a name over 63 bytes, which PostgreSQL silently cuts (two long names may become one)",
    },
    Rule { name: "wide-index", default: Level::Warn, summary: "a non-unique index over more than three columns rarely pays for what it costs each write" },
    Rule { name: "rename-column-or-table", default: Level::Warn, summary: "renaming a column or table breaks code still using the old name" },
    Rule { name: "drop-column-or-table", default: Level::Warn, summary: "dropping a column or table breaks code still using it" },
    Rule { name: "volatile-default", default: Level::Warn, summary: "`ADD COLUMN` with a volatile default rewrites the whole table" },
    Rule {
        name: "unchecked-statement",
        default: Level::Warn,
        summary: "a statement kiln cannot follow (`DO`, `CALL`...): the tables it touches are not checked",
    },
];

/// Rules whose findings are always errors: neither `kiln.toml` nor an allow
/// comment can lower them, because the revision would lose or double work
/// (a `COMMIT` inside kiln's transaction), fail at run time, or could not
/// be parsed at all (its statements would be unknown).
pub const FIXED: &[&str] = &["sql-too-complex", "concurrently-in-transaction", "transaction-control", "no-transaction-block"];

impl Rule {
    /// False for the [`FIXED`] rules, which no configuration or comment lowers.
    ///
    /// ```
    /// assert!(!kiln_core::lint::rule("transaction-control").unwrap().can_be_allowed());
    /// assert!(kiln_core::lint::rule("index-name").unwrap().can_be_allowed());
    /// ```
    pub fn can_be_allowed(&self) -> bool {
        !FIXED.contains(&self.name)
    }
}

/// How a finding in the baseline (listed by `kiln check --all`) begins
/// its note: such findings never fail, not even with `--deny-warnings`.
pub const BASELINE_NOTE: &str = "in the baseline";

/// True for a finding in the baseline (see [`BASELINE_NOTE`]).
pub fn is_baselined(d: &crate::Diagnostic) -> bool {
    d.notes.iter().any(|n| n.starts_with(BASELINE_NOTE))
}

/// The rule named `name`.
pub fn rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// `-- kiln:allow(a, b)` comments in `text`: each with its byte offset and the names it lists.
pub fn allow_comments(text: &str) -> Vec<(std::ops::Range<usize>, Vec<&str>)> {
    const MARK: &str = "kiln:allow(";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(MARK) {
        let start = from + i;
        let open = start + MARK.len();
        let close = text[open..].find([')', '\n']).map_or(text.len(), |c| open + c);
        let names = text[open..close].split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).collect();
        out.push((start..(close + 1).min(text.len()), names));
        from = close;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_unique_kebab_case() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(r.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{}", r.name);
            assert!(RULES[..i].iter().all(|o| o.name != r.name), "{}", r.name);
        }
    }

    #[test]
    fn allow_comments_list_names() {
        let found = allow_comments("-- kiln:allow(a, b-c)\nSELECT 1; -- kiln:allow(d)\n-- kiln:allow(e");
        let names: Vec<Vec<&str>> = found.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(names, [vec!["a", "b-c"], vec!["d"], vec!["e"]]);
        assert_eq!(found[0].0, 3..21);
    }
}
