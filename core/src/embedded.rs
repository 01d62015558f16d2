//! The embedded form of a migrations directory: static data written by the
//! code generator (build.rs or `embed_migrations!`) and read by the runtime.
//!
//! Everything here is `'static` and `const`-constructible, so the generated
//! table can live in a `static`. The runtime parses nothing and reads no file:
//! each revision's SQL is a byte range of its file's text, embedded with
//! `include_str!`, and the history order is precomputed.

use crate::graph::{Graph, NodeSpec, RevIdx};
pub use crate::sql::{Statement, StatementKind};

/// Used by generated code: the embedded text of a revision file, checked at
/// compile time against the length kiln validated.
#[doc(hidden)]
#[doc(hidden)]
pub const fn checked_source(text: &'static str, validated_len: usize) -> &'static str {
    assert!(text.len() == validated_len, "a migration file changed after kiln validated it: rebuild");
    text
}

/// One revision as embedded in a binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revision {
    /// `Revision ID`.
    pub id: &'static str,
    /// The message (first header line).
    pub message: &'static str,
    /// The file name, `<id>_<slug>.sql`.
    pub file_name: &'static str,
    /// `Revises`: parents; empty for a base.
    pub down_revisions: &'static [&'static str],
    /// `Depends On`.
    pub depends_on: &'static [&'static str],
    /// `Branch Labels` declared on this revision.
    pub branch_labels: &'static [&'static str],
    /// `Create Date`, as written.
    pub create_date: &'static str,
    /// False when the revision must run outside a transaction.
    pub transactional: bool,
    /// The whole file as embedded (BOM included when the file has one).
    pub source: &'static str,
    /// Byte range of the upgrade SQL in `source`.
    pub upgrade: (usize, usize),
    /// Byte range of the downgrade SQL in `source`; `None` when irreversible.
    pub downgrade: Option<(usize, usize)>,
    /// The upgrade's statements (ranges in `source`), as the build's parser
    /// found them: what a non-transactional revision sends one at a time.
    pub upgrade_statements: &'static [Statement],
    /// The downgrade's statements (ranges in `source`).
    pub downgrade_statements: &'static [Statement],
    /// [`crate::checksum::checksum`] of `source`, computed at build time.
    pub checksum: &'static str,
    /// [`crate::checksum::executable`] of its statements (`None` when the
    /// build ran without the SQL parser): what drift is judged on.
    pub checksum_v2: Option<&'static str>,
}

impl Revision {
    /// The docstring Alembic would hold for this revision: the header's
    /// comment text (see `kiln_core::parse::docstring`), what `show` prints.
    pub fn docstring(&self) -> String {
        crate::parse::docstring(self.source)
    }

    /// The SQL the upgrade runs.
    pub fn upgrade_sql(&self) -> &'static str {
        &self.source[self.upgrade.0..self.upgrade.1]
    }

    /// The SQL the downgrade runs; `None` for an irreversible revision.
    pub fn downgrade_sql(&self) -> Option<&'static str> {
        self.downgrade.map(|(a, b)| &self.source[a..b])
    }

    /// The statements of one direction, with their text.
    pub fn statements(&self, up: bool) -> impl Iterator<Item = (&'static str, &'static Statement)> + '_ {
        let source = self.source;
        let list = if up { self.upgrade_statements } else { self.downgrade_statements };
        list.iter().map(move |s| (&source[s.start..s.end], s))
    }

    /// False for a revision declared `Irreversible: true`.
    pub fn is_reversible(&self) -> bool {
        self.downgrade.is_some()
    }
}

/// A whole embedded migrations directory.
#[derive(Clone, Copy, Debug)]
pub struct Migrations {
    revisions: &'static [Revision],
    history: &'static [u32],
    source_dir: &'static str,
    fingerprint: &'static str,
}

impl Migrations {
    /// Used by generated code only.
    #[doc(hidden)]
    pub const fn __new(
        revisions: &'static [Revision],
        history: &'static [u32],
        source_dir: &'static str,
        fingerprint: &'static str,
    ) -> Self {
        Migrations { revisions, history, source_dir, fingerprint }
    }

    /// [`crate::checksum::fingerprint`] of every revision with its checksum:
    /// what the database's state row holds when it is at head.
    pub fn fingerprint(&self) -> &'static str {
        self.fingerprint
    }

    /// Every revision, in load order (file names sorted).
    pub fn revisions(&self) -> &'static [Revision] {
        self.revisions
    }

    /// Every revision in `history` order: heads first, each before its parents.
    pub fn history(&self) -> impl Iterator<Item = &'static Revision> + '_ {
        self.history.iter().map(|&i| &self.revisions[i as usize])
    }

    /// The directory the revisions were read from, as the build named it.
    pub fn source_dir(&self) -> &'static str {
        self.source_dir
    }

    /// The revision with this exact id.
    pub fn get(&self, id: &str) -> Option<&'static Revision> {
        self.revisions.iter().find(|r| r.id == id)
    }

    /// The revision at an index of [`Self::graph`].
    pub fn at(&self, index: RevIdx) -> &'static Revision {
        &self.revisions[index]
    }

    /// Number of revisions.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// True when there is no revision.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The revision graph, for resolving targets and planning. Indices are
    /// positions in [`Self::revisions`].
    pub fn graph(&self) -> Graph {
        let specs: Vec<NodeSpec> = self.revisions.iter().map(node_spec).collect();
        match Graph::build(&specs) {
            Ok(g) => g,
            // The generator only embeds a set whose graph it has validated.
            Err(errors) => unreachable!("embedded revisions form an invalid graph: {errors:?}"),
        }
    }
}

/// The graph's view of an embedded revision.
#[doc(hidden)]
pub fn node_spec(r: &Revision) -> NodeSpec {
    NodeSpec {
        id: r.id.to_string(),
        down_revisions: r.down_revisions.iter().map(|s| s.to_string()).collect(),
        depends_on: r.depends_on.iter().map(|s| s.to_string()).collect(),
        branch_labels: r.branch_labels.iter().map(|s| s.to_string()).collect(),
    }
}
