//! `kiln revision --autogenerate`: the revision that turns the migrations'
//! head into the declared schema (`schema = "schema.sql"`), and back.
//!
//! Both sides are the lint pass's [`Model`]: the head replayed from the
//! revisions, the declared schema replayed from its file, compared the way
//! the `declared-schema` rule compares them (names without `public.`,
//! defaults without casts, unnamed constraints matched by definition). Each
//! difference becomes a [`Step`]: SQL for the upgrade and the SQL that
//! undoes it, in a phase and a group that fix the order. The downgrade of a
//! part is its steps' undoing in reverse, so each step only has to undo
//! itself.
//!
//! What PostgreSQL refuses in a transaction goes to a revision of its own
//! with `Transactional: false`: `ALTER TYPE ... ADD VALUE` and dropping
//! indexes of existing tables before the main revision, building their new
//! indexes and validating their new constraints after it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::check::Parsedrev;
use super::declared::{self, adopt_names, compared_objects, kind_text, norm, norm_default, norm_object};
use super::model::{self, Column, Constraint, Index, Kind, Model, Table};
use super::sql::{self, Op};
use crate::diagnostic::{Diagnostic, Report};
use crate::validate::{LoadedRevision, RevisionSet};

/// What to generate beyond the difference itself.
///
/// ```
/// let options = kiln_core::lint::Autogenerate {
///     renames: vec![kiln_core::lint::ColumnRename { table: "users".into(), from: "name".into(), to: "full_name".into() }],
/// };
/// assert_eq!(options.renames[0].to, "full_name");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Autogenerate {
    /// Columns to rename rather than drop and add (never guessed).
    pub renames: Vec<ColumnRename>,
}

/// `--rename users.name=full_name`: a column the migrations call `from` and
/// the declared schema `to`.
///
/// ```
/// let r: kiln_core::lint::ColumnRename = "users.name=full_name".parse().unwrap();
/// assert_eq!((r.table.as_str(), r.from.as_str(), r.to.as_str()), ("users", "name", "full_name"));
/// assert!("users.name".parse::<kiln_core::lint::ColumnRename>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnRename {
    /// The table (`users`, `audit.events`).
    pub table: String,
    /// The column's name at head.
    pub from: String,
    /// Its name in the declared schema.
    pub to: String,
}

impl std::str::FromStr for ColumnRename {
    type Err = String;

    fn from_str(s: &str) -> Result<ColumnRename, String> {
        let bad = || format!("`{s}` is not a rename: write <table>.<column>=<new name>, such as users.name=full_name");
        let (left, to) = s.split_once('=').ok_or_else(bad)?;
        let (table, from) = left.rsplit_once('.').ok_or_else(bad)?;
        if [table, from, to].iter().any(|p| p.trim().is_empty()) {
            return Err(bad());
        }
        Ok(ColumnRename { table: norm(table.trim()), from: from.trim().to_string(), to: to.trim().to_string() })
    }
}

/// The revisions to write, in order (each revises the one before), and
/// what the author should look at.
///
/// ```
/// let g = kiln_core::lint::Generated::default();
/// assert!(g.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Generated {
    /// One to three revisions: the main (transactional) one, with a
    /// non-transactional one before it (enum values, dropping indexes of
    /// existing tables) and one after it (their new indexes, validating new
    /// constraints) when needed.
    pub parts: Vec<Part>,
    /// What kiln could not write or wants a person to decide, one sentence
    /// each; the revisions carry the same as `-- review:` comments.
    pub notes: Vec<String>,
}

impl Generated {
    /// No difference: nothing to write.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// One revision's SQL.
///
/// ```
/// let part = kiln_core::lint::Part { transactional: true, label: "", upgrade: "SELECT 1;\n".into(), downgrade: "SELECT 2;\n".into() };
/// assert!(part.transactional);
/// ```
#[derive(Clone, Debug)]
pub struct Part {
    /// False for the parts that hold what PostgreSQL refuses in a transaction.
    pub transactional: bool,
    /// Added to the message of the extra parts: `enum values and dropped
    /// indexes`, `indexes and validation`; empty for the main part.
    pub label: &'static str,
    /// The upgrade section's SQL.
    pub upgrade: String,
    /// The downgrade section's SQL.
    pub downgrade: String,
}

/// When a step runs: the phases are revisions, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before,
    Main,
    After,
}

/// The order of steps inside a phase.
mod group {
    pub const RENAME: u8 = 0;
    pub const DROP_OBJECTS: u8 = 1;
    pub const DROP_FOREIGN_KEYS: u8 = 2;
    pub const DROP_CONSTRAINTS: u8 = 3;
    pub const DROP_COLUMNS: u8 = 4;
    pub const ENUM_REBUILD: u8 = 5;
    pub const DROP_TABLES: u8 = 6;
    pub const DROP_TYPES: u8 = 7;
    pub const CREATE_SCHEMAS: u8 = 8;
    pub const CREATE_TYPES: u8 = 9;
    pub const CREATE_TABLES: u8 = 10;
    pub const ALTER_COLUMNS: u8 = 11;
    pub const ADD_CONSTRAINTS: u8 = 12;
    pub const ADD_FOREIGN_KEYS: u8 = 13;
    pub const CREATE_OBJECTS: u8 = 14;
    // Before: indexes dropped, then enum values.
    pub const DROP_INDEXES: u8 = 0;
    pub const ENUM_VALUES: u8 = 1;
    // After: indexes built, then constraints validated.
    pub const CREATE_INDEXES: u8 = 0;
    pub const VALIDATE: u8 = 1;
}

/// One change: SQL that makes it, and SQL that undoes it.
struct Step {
    phase: Phase,
    group: u8,
    up: String,
    down: String,
}

#[derive(Default)]
struct Steps {
    steps: Vec<Step>,
    notes: Vec<String>,
}

impl Steps {
    fn push(&mut self, phase: Phase, group: u8, up: impl Into<String>, down: impl Into<String>) {
        self.steps.push(Step { phase, group, up: up.into(), down: down.into() });
    }

    fn note(&mut self, note: String) {
        self.notes.push(note);
    }
}

/// Writes the revision(s) that turn the head of `set` into its declared
/// schema: `kiln revision --autogenerate`. `set` is loaded as usual (the
/// `declared-schema` rule is best turned off for it, since the difference
/// is the point). An error names what stops kiln: no `schema` in
/// kiln.toml, a declared schema that does not parse, a model kiln cannot
/// follow.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("kiln-autogen-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("kiln.toml"), "schema = \"schema.sql\"\n").unwrap();
/// std::fs::write(dir.join("schema.sql"), "CREATE TABLE users (id varchar(26) PRIMARY KEY, email text NOT NULL);\n").unwrap();
/// std::fs::write(
///     dir.join("a1_users.sql"),
///     "-- users\n--\n-- Revision ID: a1\n-- Revises:\n-- Create Date: 2026-12-01 10:00:00\n\n-- kiln:upgrade\nCREATE TABLE users (id varchar(26) PRIMARY KEY);\n\n-- kiln:downgrade\nDROP TABLE users;\n",
/// )
/// .unwrap();
/// let set = kiln_core::validate::load_dir_with(&dir, "migrations", |c| c.set_level("declared-schema", kiln_core::lint::Level::Allow)).unwrap();
/// let generated = kiln_core::lint::autogenerate(&set, &Default::default()).unwrap();
/// assert_eq!(generated.parts.len(), 1);
/// assert!(generated.parts[0].upgrade.contains("ALTER TABLE users ADD COLUMN email text DEFAULT '' NOT NULL;"));
/// assert!(generated.parts[0].downgrade.contains("ALTER TABLE users DROP COLUMN email"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn autogenerate(set: &RevisionSet, options: &Autogenerate) -> Result<Generated, Report> {
    let fail = |d: Diagnostic| Err(Report { sources: set.report.sources.clone(), diagnostics: vec![d] });
    let Some(schema) = &set.config.declared else {
        return fail(
            Diagnostic::error("config", "kiln.toml declares no schema: autogenerate writes the difference between the migrations and it")
                .with_help("add `schema = \"schema.sql\"` to kiln.toml and write the schema there (or `pg_dump --schema-only` it)"),
        );
    };
    let parsed = super::check::parse_all(&set.revisions);
    let (mut head, order) = super::check::head_model(&set.revisions, &parsed, &set.graph, &set.config);
    // Parsed once: the model, and the statements it does not hold.
    let declared_parse = declared::parse(&schema.text);
    let (want, spans, errors) = declared::declared_model(&declared_parse);
    if let Some((message, span)) = errors.into_iter().next() {
        return fail(
            Diagnostic::error("declared-schema", format!("the declared schema does not parse: {message}"))
                .at(schema.file, span)
                .with_help("fix the declared schema; kiln writes a revision only from a schema it understands"),
        );
    }
    if head.opaque {
        return fail(
            Diagnostic::error(
                "declared-schema",
                "the migrations hold a statement kiln cannot follow (`DO`, `CALL`, a syntax error...): what they build is not known",
            )
            .with_help("write this revision by hand; `kiln check` shows the statement kiln cannot follow"),
        );
    }
    for r in &options.renames {
        let Some(t) = head.tables().find(|(k, _)| norm(k) == r.table).map(|(k, t)| (k.to_string(), t)) else {
            return fail(Diagnostic::error(
                "usage",
                format!("--rename {}.{}: the migrations have no table `{}`", r.table, r.from, r.table),
            ));
        };
        if t.1.column(&r.from).is_none() {
            return fail(Diagnostic::error("usage", format!("--rename: the migrations give `{}` no column `{}`", r.table, r.from)));
        }
        let sql = format!("ALTER TABLE {} RENAME COLUMN {} TO {};", quote_key(&t.0), quote(&r.from), quote(&r.to));
        for st in sql::parse(&sql).stmts {
            head.apply(&st.op, u32::MAX - 1);
        }
    }
    // The text the declared statements' spans index.
    let text = crate::sql::without_meta_commands(&schema.text);
    let ctx = Ctx {
        head: &head,
        want: &want,
        config: &set.config,
        declared_text: &text,
        declared_stmts: &declared_parse.0.stmts,
        spans: &spans,
        revs: &set.revisions,
        parsed: &parsed,
        order: &order,
    };
    let mut steps = Steps::default();
    for r in &options.renames {
        let key = quote_key(&r.table);
        steps.push(
            Phase::Main,
            group::RENAME,
            format!("ALTER TABLE {key} RENAME COLUMN {} TO {};", quote(&r.from), quote(&r.to)),
            format!("ALTER TABLE {key} RENAME COLUMN {} TO {};", quote(&r.to), quote(&r.from)),
        );
    }
    ctx.diff(&mut steps);
    Ok(assemble(steps))
}

struct Ctx<'a> {
    head: &'a Model,
    want: &'a Model,
    config: &'a crate::config::Config,
    declared_text: &'a str,
    /// The declared schema's statements (for what the model does not hold).
    declared_stmts: &'a [sql::Stmt],
    spans: &'a declared::Spans,
    revs: &'a [LoadedRevision],
    parsed: &'a [Parsedrev],
    order: &'a [usize],
}

/// An enum's values by type (normalised key).
fn enums(objects: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    objects
        .iter()
        .filter_map(|k| k.strip_prefix("enum|")?.split_once('|'))
        .map(|(t, v)| (t.to_string(), v.split(model::ENUM_SEP).filter(|x| !x.is_empty()).map(str::to_string).collect()))
        .collect()
}

impl Ctx<'_> {
    fn diff(&self, steps: &mut Steps) {
        let have: BTreeMap<String, &Table> = self.head.tables().map(|(k, t)| (norm(k), t)).collect();
        let want: BTreeMap<String, Table> = self
            .want
            .tables()
            .map(|(k, t)| (norm(k), t))
            .filter(|(k, _)| !declared::KILN_TABLES.contains(&k.as_str()))
            .map(|(k, t)| {
                let mut t = t.clone();
                adopt_names(&mut t, have.get(&k).copied(), &k, self.config);
                (k, t)
            })
            .collect();
        let fed = declared::fed_sequences(self.want.tables().chain(self.head.tables()).map(|(_, t)| t));
        let (want_objects, have_objects) = (compared_objects(self.want, &fed), compared_objects(self.head, &fed));
        let (want_enums, have_enums) = (enums(&want_objects), enums(&have_objects));

        // Columns whose type changes: a foreign key on or to one is dropped
        // before and added again after (PostgreSQL checks both ends' types).
        let mut retyped = Retyped { columns: BTreeSet::new(), primary_keys: BTreeMap::new() };
        for (key, t) in &want {
            let Some(got) = have.get(key) else { continue };
            for w in &t.columns {
                if got.column(&w.name).is_some_and(|g| g.ty.is_some() && w.ty.is_some() && g.ty != w.ty) {
                    retyped.columns.insert((key.clone(), w.name.clone()));
                }
            }
            if let Some(pk) = got.primary_key() {
                retyped.primary_keys.insert(key.clone(), pk.to_vec());
            }
        }
        for (key, t) in &want {
            match have.get(key) {
                None => {
                    if t.uncertain {
                        steps.note(format!(
                            "table `{key}` is declared with more than kiln follows (`INHERITS`, `LIKE`, `PARTITION OF`, an identity \
                             added by `ALTER TABLE`...): check its generated CREATE TABLE against the declared schema"
                        ));
                    }
                    self.create_table(key, t, steps)
                }
                Some(got) if got.uncertain || t.uncertain => steps.note(format!(
                    "table `{key}` is changed by a statement kiln does not follow: compare it by hand (`kiln check` names the statement)"
                )),
                Some(got) => self.alter_table(key, got, t, [&have_enums, &want_enums], &retyped, steps),
            }
        }
        if self.want.opaque {
            // What the declared schema's `DO` blocks make is not known: nothing
            // it may declare is dropped.
            for st in self.declared_stmts.iter().filter(|st| matches!(st.op, Op::Opaque(_))) {
                let line = self.declared_text[..st.span.start].matches('\n').count() + 1;
                steps.note(format!(
                    "the declared schema's statement at line {line} is one kiln cannot follow: it is not in the revision, and \
                     nothing the migrations have and the declared schema lacks is dropped; write what it does by hand if the \
                     migrations lack it"
                ));
            }
        }
        for (key, t) in &have {
            if self.want.opaque {
                break;
            }
            if !want.contains_key(key) && !declared::KILN_TABLES.contains(&key.as_str()) {
                if t.uncertain {
                    steps.note(format!("table `{key}` is not declared, but kiln does not follow all of it: drop it by hand"));
                    continue;
                }
                self.drop_table(key, t, steps);
            }
        }
        self.enums(&have_enums, &want_enums, &have, &want, steps);
        self.objects(&have_objects, &want_objects, &have_enums, &want_enums, steps);
        self.fed_sequences(&have, &fed, steps);
        self.schemas_and_extensions(steps);
    }

    fn create_table(&self, key: &str, t: &Table, steps: &mut Steps) {
        let Some(up) = create_table_sql(key, t, steps) else { return };
        let mut up = up;
        for i in &t.indexes {
            let _ = writeln!(up, "{}", create_index_sql(key, i, false));
        }
        steps.push(Phase::Main, group::CREATE_TABLES, up, format!("DROP TABLE {};", quote_key(key)));
        for c in t.constraints.iter().filter(|c| matches!(c.kind, Kind::ForeignKey { .. })) {
            steps.push(
                Phase::Main,
                group::ADD_FOREIGN_KEYS,
                add_constraint_sql(key, c, false),
                format!("ALTER TABLE {} DROP CONSTRAINT {};", quote_key(key), quote(&c.name)),
            );
        }
    }

    fn drop_table(&self, key: &str, t: &Table, steps: &mut Steps) {
        let Some(mut down) = create_table_sql(key, t, steps) else { return };
        for i in &t.indexes {
            let _ = writeln!(down, "{}", create_index_sql(key, i, false));
        }
        steps.push(Phase::Main, group::DROP_TABLES, format!("DROP TABLE {};", quote_key(key)), down);
        for c in t.constraints.iter().filter(|c| matches!(c.kind, Kind::ForeignKey { .. })) {
            steps.push(
                Phase::Main,
                group::DROP_FOREIGN_KEYS,
                format!("ALTER TABLE {} DROP CONSTRAINT {};", quote_key(key), quote(&c.name)),
                add_constraint_sql(key, c, false),
            );
        }
    }

    /// `enums`: the enum types' values at head and as declared.
    fn alter_table(
        &self,
        key: &str,
        got: &Table,
        want: &Table,
        enums: [&BTreeMap<String, Vec<String>>; 2],
        retyped: &Retyped,
        steps: &mut Steps,
    ) {
        let k = quote_key(key);
        let dropped: Vec<&Column> = got.columns.iter().filter(|c| want.column(&c.name).is_none()).collect();
        let added: Vec<&Column> = want.columns.iter().filter(|c| got.column(&c.name).is_none()).collect();
        // A drop and an add of the same type may be a rename: never guessed.
        let mut hints = BTreeMap::new();
        for d in &dropped {
            // Only a pair alone of its type: with several, any guess would be a guess.
            let of_type = |cols: &[&Column]| cols.iter().filter(|c| c.ty == d.ty).count();
            if of_type(&dropped) != 1 || of_type(&added) != 1 {
                continue;
            }
            if let Some(a) = added.iter().find(|a| a.ty == d.ty) {
                let hint = format!(
                    "`{key}.{}` is dropped and `{key}.{}` added, of the same type: if it is a rename, run again with \
                     --rename {key}.{}={} (a drop loses the column's data)",
                    d.name, a.name, d.name, a.name
                );
                steps.note(hint.clone());
                hints.insert(d.name.clone(), hint);
            }
        }
        // One step for the table, so that the downgrade adds the columns
        // back in their order; at the end, where PostgreSQL adds a column.
        let suffix = got.columns.iter().rev().take_while(|c| want.column(&c.name).is_none()).count();
        let (mut up, mut down) = (String::new(), Vec::new());
        if suffix < dropped.len() {
            let moved: Vec<String> = dropped.iter().map(|c| format!("`{}`", c.name)).collect();
            let _ = writeln!(
                up,
                "-- review: the downgrade adds {} back at the end of `{key}` (PostgreSQL adds columns last), \
                 so allowed only if nothing reads its columns by position\n-- kiln:allow(reversible)",
                moved.join(", ")
            );
        }
        for c in &dropped {
            if let Some(h) = hints.get(&c.name) {
                let _ = writeln!(up, "-- review: {h}");
            }
            let _ = writeln!(up, "ALTER TABLE {k} DROP COLUMN {};", quote(&c.name));
            down.extend(add_column_sql(key, c, enums[0], steps));
        }
        if !dropped.is_empty() {
            steps.push(Phase::Main, group::DROP_COLUMNS, up, down.join("\n"));
        }
        for c in &added {
            let Some(up) = add_column_sql(key, c, enums[1], steps) else { continue };
            steps.push(Phase::Main, group::ALTER_COLUMNS, up, format!("ALTER TABLE {k} DROP COLUMN {};", quote(&c.name)));
        }
        for w in &want.columns {
            let Some(g) = got.column(&w.name) else { continue };
            let col = quote(&w.name);
            let (gd, wd) = (g.default.as_deref().map(norm_default), w.default.as_deref().map(norm_default));
            let fed = |d: &Option<String>| d.as_deref().is_some_and(|d| d.contains("nextval"));
            let set_default = |d: &Option<String>| match d {
                Some(d) => format!("ALTER TABLE {k} ALTER COLUMN {col} SET DEFAULT {};", expr(d)),
                None => format!("ALTER TABLE {k} ALTER COLUMN {col} DROP DEFAULT;"),
            };
            if g.is_serial() && !fed(&wd) {
                // A serial no longer: its sequence goes, and comes back on the way down.
                let seq_key = model::serial_sequence(key, &w.name);
                let (seq, seq_literal) = (quote_key(&seq_key), literal(&seq_key));
                let ty = g.ty.as_deref().filter(|t| ["smallint", "bigint"].contains(t)).unwrap_or("integer");
                steps.push(
                    Phase::Main,
                    group::ALTER_COLUMNS,
                    format!(
                        "-- review: `{key}.{}` is a serial no longer; the downgrade makes it one again, its sequence past the largest \
                         value (kiln's model does not follow a serial's own sequence, hence the allow)\n-- kiln:allow(reversible)\n\
                         ALTER TABLE {k} ALTER COLUMN {col} DROP DEFAULT;\nDROP SEQUENCE {seq};",
                        w.name
                    ),
                    format!(
                        "CREATE SEQUENCE {seq} AS {ty} OWNED BY {k}.{col};\n\
                         SELECT setval({seq_literal}, COALESCE(max({col}), 0) + 1, false) FROM {k};\n\
                         ALTER TABLE {k} ALTER COLUMN {col} SET DEFAULT nextval({seq_literal}::regclass);"
                    ),
                );
            }
            match (&g.ty, &w.ty) {
                (Some(a), Some(b)) if a != b => {
                    // A default is typed when set: set aside while the type changes.
                    let change = |from: &str, to: &str, old: &Option<String>, new: &Option<String>| {
                        let using = if super::check::no_rewrite(from, to) {
                            String::new()
                        } else if same_family(from, to) {
                            format!(" USING {col}::{to}")
                        } else {
                            // No cast between them: through text, which every type reads.
                            format!(" USING {col}::text{}", if to == "text" { String::new() } else { format!("::{to}") })
                        };
                        let mut sql = String::new();
                        if old.is_some() && !fed(old) {
                            let _ = writeln!(sql, "{}", set_default(&None));
                        }
                        let _ = write!(sql, "ALTER TABLE {k} ALTER COLUMN {col} TYPE {to}{using};");
                        if new.is_some() && !fed(new) {
                            let _ = write!(sql, "\n{}", set_default(new));
                        }
                        sql
                    };
                    steps.push(
                        Phase::Main,
                        group::ALTER_COLUMNS,
                        change(a, b, &g.default, &w.default),
                        change(b, a, &w.default, &g.default),
                    );
                }
                // Compared without casts, written as each side has it.
                _ if gd != wd && !fed(&gd) && !fed(&wd) => {
                    steps.push(Phase::Main, group::ALTER_COLUMNS, set_default(&w.default), set_default(&g.default));
                }
                _ => {}
            }
            if g.not_null != w.not_null {
                let set = |nn: bool| format!("ALTER TABLE {k} ALTER COLUMN {col} {} NOT NULL;", if nn { "SET" } else { "DROP" });
                steps.push(Phase::Main, group::ALTER_COLUMNS, set(w.not_null), set(g.not_null));
            }
            if g.generated != w.generated {
                steps.note(format!(
                    "`{key}.{}` is declared with another identity or generated expression: kiln does not write that change; write it by hand",
                    w.name
                ));
            }
        }
        // Constraints by name; a changed one is dropped and added again.
        let same = |a: &Constraint, b: &Constraint| kind_text(&a.kind) == kind_text(&b.kind) && !retyped.touches(key, a);
        for c in &got.constraints {
            if want.constraints.iter().any(|w| w.name == c.name && same(w, c)) {
                continue;
            }
            let fk = matches!(c.kind, Kind::ForeignKey { .. });
            let g = if fk { group::DROP_FOREIGN_KEYS } else { group::DROP_CONSTRAINTS };
            steps.push(Phase::Main, g, format!("ALTER TABLE {k} DROP CONSTRAINT {};", quote(&c.name)), add_constraint_sql(key, c, false));
        }
        for c in &want.constraints {
            if got.constraints.iter().any(|g| g.name == c.name && same(g, c)) {
                continue;
            }
            let (fk, validated) = match c.kind {
                Kind::ForeignKey { .. } => (true, true),
                Kind::Check(_) => (false, true),
                _ => (false, false),
            };
            let g = if fk { group::ADD_FOREIGN_KEYS } else { group::ADD_CONSTRAINTS };
            // Checked against the rows in a later transaction, not under the lock that adds it.
            let not_valid = validated
                && got.columns.iter().all(
                    |col| !matches!(&c.kind, Kind::Check(cols) if cols.contains(&col.name) && added.iter().any(|a| a.name == col.name)),
                );
            steps.push(
                Phase::Main,
                g,
                add_constraint_sql(key, c, not_valid),
                format!("ALTER TABLE {k} DROP CONSTRAINT {};", quote(&c.name)),
            );
            if not_valid {
                // Undone as it was before: there is no un-validating, so added again NOT VALID.
                steps.push(
                    Phase::After,
                    group::VALIDATE,
                    format!("ALTER TABLE {k} VALIDATE CONSTRAINT {};", quote(&c.name)),
                    format!("ALTER TABLE {k} DROP CONSTRAINT {};\n{}", quote(&c.name), add_constraint_sql(key, c, true)),
                );
            }
        }
        // Indexes by name, built and dropped concurrently: the table has rows.
        let same = |a: &Index, b: &Index| a.columns == b.columns && a.unique == b.unique;
        for i in &got.indexes {
            if !want.indexes.iter().any(|w| w.name == i.name && same(w, i)) {
                steps.push(Phase::Before, group::DROP_INDEXES, drop_index_sql(key, &i.name, true), create_index_sql(key, i, true));
            }
        }
        for i in &want.indexes {
            if !got.indexes.iter().any(|g| g.name == i.name && same(g, i)) {
                steps.push(Phase::After, group::CREATE_INDEXES, create_index_sql(key, i, true), drop_index_sql(key, &i.name, true));
            }
        }
    }

    fn enums(
        &self,
        have: &BTreeMap<String, Vec<String>>,
        want: &BTreeMap<String, Vec<String>>,
        have_tables: &BTreeMap<String, &Table>,
        want_tables: &BTreeMap<String, Table>,
        steps: &mut Steps,
    ) {
        let create = |name: &str, values: &[String]| format!("CREATE TYPE {} AS ENUM ({});", quote_key(name), literals(values));
        let drop = |name: &str| format!("DROP TYPE {};", quote_key(name));
        for (name, values) in want {
            match have.get(name) {
                None => steps.push(Phase::Main, group::CREATE_TYPES, create(name, values), drop(name)),
                Some(old) if old == values => {}
                Some(old) => {
                    // The columns of this type where the rebuild runs: at head before
                    // the main revision, less the columns it drops first within it.
                    let of_type = |c: &Column| c.ty.as_deref().map(norm).as_deref() == Some(name.as_str());
                    let at_head: Vec<(String, &Column)> = have_tables
                        .iter()
                        .flat_map(|(k, t)| t.columns.iter().map(move |c| (k.clone(), c)))
                        .filter(|(_, c)| of_type(c))
                        .collect();
                    let kept = |(k, c): &(String, &Column)| want_tables.get(k).is_none_or(|w| w.column(&c.name).is_some());
                    let columns: Vec<(String, &Column)> = at_head.iter().filter(|x| kept(x)).cloned().collect();
                    if is_subsequence(old, values) {
                        let mut up = String::new();
                        for (i, v) in values.iter().enumerate().filter(|(_, v)| !old.contains(v)) {
                            // Placed after the value before it, or before the first one.
                            let place = match i {
                                0 => values.get(1).map(|next| format!(" BEFORE {}", literal(next))).unwrap_or_default(),
                                _ => format!(" AFTER {}", literal(&values[i - 1])),
                            };
                            let _ = writeln!(up, "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{place};", quote_key(name), literal(v));
                        }
                        let down = format!(
                            "-- PostgreSQL cannot drop an enum value: the type is made anew with the old values\n{}",
                            rebuild_enum(name, old, &at_head)
                        );
                        steps.push(Phase::Before, group::ENUM_VALUES, up.trim_end().to_string(), down);
                    } else {
                        steps.push(
                            Phase::Main,
                            group::ENUM_REBUILD,
                            format!(
                                "-- review: values are removed or reordered: rows holding a removed value make this fail\n{}",
                                rebuild_enum(name, values, &columns)
                            ),
                            rebuild_enum(name, old, &columns),
                        );
                    }
                }
            }
        }
        for (name, values) in have {
            if !want.contains_key(name) && !self.want.opaque {
                steps.push(Phase::Main, group::DROP_TYPES, drop(name), create(name, values));
            }
        }
    }

    fn objects(
        &self,
        have: &BTreeSet<String>,
        want: &BTreeSet<String>,
        have_enums: &BTreeMap<String, Vec<String>>,
        want_enums: &BTreeMap<String, Vec<String>>,
        steps: &mut Steps,
    ) {
        let plain = |k: &&String| {
            !k.starts_with("enum|") && !k.strip_prefix("type|").is_some_and(|t| have_enums.contains_key(t) || want_enums.contains_key(t))
        };
        // Dependants after what they depend on: functions, views, materialized
        // views, triggers (and dropped the other way round).
        let rank =
            |k: &&String| ["function|", "view|", "materialized view|", "trigger|"].iter().position(|p| k.starts_with(p)).unwrap_or(0);
        let mut created: Vec<&String> = want.iter().filter(plain).filter(|k| !have.contains(*k)).collect();
        created.sort_by_key(rank);
        let mut dropped: Vec<&String> = have.iter().filter(plain).filter(|k| !want.contains(*k) && !self.want.opaque).collect();
        dropped.sort_by_key(|k| std::cmp::Reverse(rank(k)));
        for key in created {
            let (kind, name) = key.split_once('|').unwrap_or(("object", key));
            let Some(span) = self.spans.objects.get(key) else { continue };
            let up = statement(&self.declared_text[span.clone()]);
            steps.push(Phase::Main, object_group(kind, true), up, drop_object_sql(kind, name));
        }
        for key in dropped {
            let (kind, name) = key.split_once('|').unwrap_or(("object", key));
            let down = match self.created_by(key) {
                Some(text) => statement(&text),
                None => {
                    steps.note(format!(
                        "{kind} `{name}` is not declared and kiln did not find the statement that created it: write its downgrade by hand"
                    ));
                    format!("-- review: create {kind} `{name}` again here")
                }
            };
            steps.push(Phase::Main, object_group(kind, false), drop_object_sql(kind, name), down);
        }
    }

    /// The sequences the declared schema creates for its columns'
    /// defaults (`pg_dump` writes a `serial` so) that the migrations lack:
    /// created before the tables, owned by their column after them.
    /// `fed`: the sequences some column's default names (the others are
    /// objects like any other).
    fn fed_sequences(&self, have: &BTreeMap<String, &Table>, fed: &BTreeSet<String>, steps: &mut Steps) {
        let have_objects: BTreeSet<String> = self.head.objects().iter().map(|k| norm_object(k)).collect();
        // A `serial` of the migrations makes `<table>_<column>_seq`.
        let serials: BTreeSet<String> = have
            .iter()
            .flat_map(|(k, t)| t.columns.iter().filter(|c| c.is_serial()).map(move |c| model::serial_sequence(k, &c.name)))
            .collect();
        let owned_by = self.owned_by();
        for key in self.want.objects().iter().map(|k| norm_object(k)) {
            let Some(name) = key.strip_prefix("sequence|") else { continue };
            if !fed.contains(name) || have_objects.contains(&key) || serials.contains(name) {
                continue;
            }
            let Some(span) = self.spans.objects.get(&key) else { continue };
            steps.push(Phase::Main, group::CREATE_TYPES, statement(&self.declared_text[span.clone()]), drop_object_sql("sequence", name));
            if let Some(text) = owned_by.get(name) {
                steps.push(Phase::Main, group::CREATE_OBJECTS, text.clone(), format!("ALTER SEQUENCE {} OWNED BY NONE;", quote_key(name)));
            }
        }
    }

    /// The schemas and extensions the declared schema creates and no
    /// revision does (`pg_dump` writes them; the model does not hold
    /// them): created first, in the declared order, dropped last.
    fn schemas_and_extensions(&self, steps: &mut Steps) {
        let made: BTreeSet<(&'static str, String)> = self.upgrade_statements().filter_map(|(_, text)| schema_or_extension(text)).collect();
        for st in self.declared_stmts {
            let text = &self.declared_text[st.span.clone()];
            let Some((kind, name)) = schema_or_extension(text) else { continue };
            if name == "public" || made.contains(&(kind, name.clone())) {
                continue;
            }
            steps.push(Phase::Main, group::CREATE_SCHEMAS, statement(text), format!("DROP {} {};", kind.to_uppercase(), quote(&name)));
        }
    }

    /// `ALTER SEQUENCE <name> OWNED BY ...` statements of the declared schema, by sequence.
    fn owned_by(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for st in self.declared_stmts.iter().filter(|st| matches!(st.op, Op::OtherDdl)) {
            let text = &self.declared_text[st.span.clone()];
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.len() > 4
                && words[0].eq_ignore_ascii_case("alter")
                && words[1].eq_ignore_ascii_case("sequence")
                && text.to_ascii_uppercase().contains(" OWNED BY ")
            {
                out.insert(norm(&words[2].to_ascii_lowercase()), statement(text));
            }
        }
        out
    }

    /// Every upgrade statement of the migrations, in replay order, with its text.
    fn upgrade_statements(&self) -> impl Iterator<Item = (&sql::Stmt, &str)> {
        self.order.iter().flat_map(move |&r| {
            let (rev, section) = (&self.revs[r], &self.parsed[r].upgrade);
            let text = &rev.source[rev.bom_len..];
            section.parsed.stmts.iter().map(move |st| (st, &text[section.start + st.span.start..section.start + st.span.end]))
        })
    }

    /// The last upgrade statement of the migrations that creates the object `key`.
    fn created_by(&self, key: &str) -> Option<String> {
        self.upgrade_statements()
            .filter(
                |(st, _)| matches!(&st.op, Op::CreateObject { kind, name, .. } if norm_object(&format!("{kind}|{}", name.key())) == key),
            )
            .last()
            .map(|(_, text)| text.to_string())
    }
}

/// The columns of kept tables whose type changes, and the primary keys a
/// foreign key without columns refers to.
struct Retyped {
    columns: BTreeSet<(String, String)>,
    primary_keys: BTreeMap<String, Vec<String>>,
}

impl Retyped {
    /// A foreign key of table `key` on or to a column whose type changes.
    fn touches(&self, key: &str, c: &Constraint) -> bool {
        let Kind::ForeignKey { columns, table, ref_columns, .. } = &c.kind else { return false };
        let to = norm(table);
        let refs = if ref_columns.is_empty() { self.primary_keys.get(&to).cloned().unwrap_or_default() } else { ref_columns.clone() };
        columns.iter().any(|c| self.columns.contains(&(key.to_string(), c.clone())))
            || refs.iter().any(|c| self.columns.contains(&(to.clone(), c.clone())))
    }
}

/// `CREATE SCHEMA [IF NOT EXISTS] <name>` or `CREATE EXTENSION ...`: its kind and name.
fn schema_or_extension(text: &str) -> Option<(&'static str, String)> {
    let words: Vec<String> = text.split_whitespace().take(6).map(|w| w.trim_end_matches(';').to_string()).collect();
    if !words.first()?.eq_ignore_ascii_case("create") {
        return None;
    }
    let kind = match words.get(1)?.to_ascii_lowercase().as_str() {
        "schema" => "schema",
        "extension" => "extension",
        _ => return None,
    };
    let mut rest = &words[2..];
    if rest.len() >= 3 && rest[..3].iter().map(|w| w.to_ascii_lowercase()).eq(["if", "not", "exists"]) {
        rest = &rest[3..];
    }
    let name = rest.first()?;
    let name = if name.starts_with('"') { name.trim_matches('"').to_string() } else { name.to_ascii_lowercase() };
    Some((kind, name))
}

/// True when `old` keeps its order inside `new`: only additions.
fn is_subsequence(old: &[String], new: &[String]) -> bool {
    let mut it = new.iter();
    old.iter().all(|o| it.any(|n| n == o))
}

/// An enum type made anew with `values`: the columns of the old type move
/// to it through text, their defaults set aside meanwhile.
fn rebuild_enum(name: &str, values: &[String], columns: &[(String, &Column)]) -> String {
    let ty = quote_key(name);
    let old = quote_key(&format!("{name}_kiln_old"));
    let mut out = format!("ALTER TYPE {ty} RENAME TO {};\n", quote(&format!("{}_kiln_old", model::bare(name))));
    let _ = writeln!(out, "CREATE TYPE {ty} AS ENUM ({});", literals(values));
    for (table, c) in columns {
        let (t, col) = (quote_key(table), quote(&c.name));
        if c.default.is_some() {
            let _ = writeln!(out, "ALTER TABLE {t} ALTER COLUMN {col} DROP DEFAULT;");
        }
        let _ = writeln!(out, "ALTER TABLE {t} ALTER COLUMN {col} TYPE {ty} USING {col}::text::{ty};");
        if let Some(d) = &c.default {
            let _ = writeln!(out, "ALTER TABLE {t} ALTER COLUMN {col} SET DEFAULT {};", expr(d));
        }
    }
    let _ = write!(out, "DROP TYPE {old};");
    out
}

/// Where an object is created (`create`) or dropped in the main phase:
/// types and sequences around the tables, functions, views and triggers
/// after them (dropped before them), dependants last.
fn object_group(kind: &str, create: bool) -> u8 {
    match (kind, create) {
        ("sequence" | "type" | "domain", true) => group::CREATE_TYPES,
        ("sequence" | "type" | "domain", false) => group::DROP_TYPES,
        (_, true) => group::CREATE_OBJECTS,
        (_, false) => group::DROP_OBJECTS,
    }
}

fn drop_object_sql(kind: &str, name: &str) -> String {
    match name.split_once(" on ") {
        Some((trigger, table)) if kind == "trigger" => format!("DROP TRIGGER {} ON {};", quote(trigger), quote_key(table)),
        _ => format!("DROP {} {};", kind.to_uppercase(), quote_key(name)),
    }
}

/// A statement's text ending in `;`.
fn statement(text: &str) -> String {
    let t = text.trim_end();
    if t.ends_with(';') {
        t.to_string()
    } else {
        format!("{t};")
    }
}

/// `CREATE TABLE` with the columns and the constraints other than foreign
/// keys (which come once every table exists). `None` (with a note) when a
/// column's type is not known.
fn create_table_sql(key: &str, t: &Table, steps: &mut Steps) -> Option<String> {
    let mut lines = Vec::new();
    for c in &t.columns {
        let Some(ty) = column_type(c) else {
            steps.note(format!("column `{key}.{}` has no type kiln knows: write table `{key}` by hand", c.name));
            return None;
        };
        let mut line = format!("    {} {ty}", quote(&c.name));
        column_tail(c, &mut line);
        lines.push(line);
    }
    for c in t.constraints.iter().filter(|c| !matches!(c.kind, Kind::ForeignKey { .. })) {
        lines.push(format!("    CONSTRAINT {} {}", quote(&c.name), constraint_body(c)));
    }
    Some(format!("CREATE TABLE {} (\n{}\n);\n", quote_key(key), lines.join(",\n")))
}

/// The type a column is written with: `serial` for a column it feeds.
fn column_type(c: &Column) -> Option<String> {
    let ty = c.ty.as_deref()?;
    Some(if c.is_serial() {
        match ty {
            "bigint" => "bigserial".into(),
            "smallint" => "smallserial".into(),
            _ => "serial".into(),
        }
    } else {
        ty.to_string()
    })
}

/// ` GENERATED ...`, ` DEFAULT ...`, ` NOT NULL`.
fn column_tail(c: &Column, line: &mut String) {
    if let Some(g) = &c.generated {
        let _ = write!(line, " {}", expr(g));
    }
    match c.default.as_deref() {
        Some(d) if !c.is_serial() => {
            let _ = write!(line, " DEFAULT {}", expr(d));
        }
        _ => {}
    }
    if c.not_null {
        line.push_str(" NOT NULL");
    }
}

/// `ADD COLUMN` on a table with rows: a NOT NULL column without a default
/// gets one for the rows there (the zero of its type), dropped after.
fn add_column_sql(key: &str, c: &Column, enums: &BTreeMap<String, Vec<String>>, steps: &mut Steps) -> Option<String> {
    let k = quote_key(key);
    let Some(ty) = column_type(c) else {
        steps.note(format!("column `{key}.{}` has no type kiln knows: add it by hand", c.name));
        return None;
    };
    let mut line = String::new();
    let needs_fill = c.not_null && c.default.is_none() && c.generated.is_none();
    let fill = needs_fill.then(|| zero_of(&ty, enums)).flatten();
    if needs_fill && fill.is_none() {
        let _ = writeln!(line, "-- review: write a value of `{ty}` for the rows already there in place of NULL");
        steps.note(format!(
            "`{key}.{}` is NOT NULL without a default, and kiln knows no value of type `{ty}` for the rows already there: \
             edit the generated DEFAULT",
            c.name
        ));
    }
    let _ = write!(line, "ALTER TABLE {k} ADD COLUMN {} {ty}", quote(&c.name));
    if let Some(g) = &c.generated {
        let _ = write!(line, " {}", expr(g));
    }
    match (c.default.as_deref(), &fill) {
        (Some(d), _) if !c.is_serial() => {
            let _ = write!(line, " DEFAULT {}", expr(d));
        }
        (None, Some(z)) => {
            let _ = write!(line, " DEFAULT {z}");
        }
        (None, None) if needs_fill => line.push_str(" DEFAULT NULL"),
        _ => {}
    }
    if c.not_null {
        line.push_str(" NOT NULL");
    }
    line.push(';');
    if fill.is_some() || needs_fill {
        let _ = write!(line, "\nALTER TABLE {k} ALTER COLUMN {} DROP DEFAULT;", quote(&c.name));
    }
    Some(line)
}

/// Types PostgreSQL casts between directly (numbers, strings, times).
fn same_family(a: &str, b: &str) -> bool {
    let family = |t: &str| match t.split('(').next().unwrap_or(t).trim() {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => 1,
        "text" | "varchar" | "char" | "citext" => 2,
        "timestamp" | "timestamptz" | "date" => 3,
        _ => 0,
    };
    family(a) != 0 && family(a) == family(b)
}

/// A value of type `ty` for the rows of a table a NOT NULL column is added to.
fn zero_of(ty: &str, enums: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let base = ty.split('(').next().unwrap_or(ty).trim();
    if ty.ends_with("[]") {
        return Some("'{}'".into());
    }
    Some(
        match base {
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" | "money" => "0",
            "text" | "varchar" | "char" | "citext" | "bytea" => "''",
            "boolean" => "false",
            "timestamptz" | "timestamp" | "date" => "now()",
            "time" | "timetz" => "'00:00'",
            "interval" => "'0'",
            "json" | "jsonb" => "'{}'",
            "uuid" => "'00000000-0000-0000-0000-000000000000'",
            "inet" | "cidr" => "'0.0.0.0'",
            other => return enums.get(&norm(other)).and_then(|v| v.first()).map(|v| literal(v)),
        }
        .to_string(),
    )
}

/// A constraint's definition without its name.
fn constraint_body(c: &Constraint) -> String {
    let cols = |c: &[String]| c.iter().map(|x| quote(x)).collect::<Vec<_>>().join(", ");
    match &c.kind {
        Kind::PrimaryKey(c) => format!("PRIMARY KEY ({})", cols(c)),
        Kind::Unique(c) => format!("UNIQUE ({})", cols(c)),
        Kind::ForeignKey { columns, table, ref_columns, options } => {
            let mut s = format!("FOREIGN KEY ({}) REFERENCES {}", cols(columns), quote_key(&norm(table)));
            if !ref_columns.is_empty() {
                let _ = write!(s, " ({})", cols(ref_columns));
            }
            if !options.is_empty() {
                let _ = write!(s, " {options}");
            }
            s
        }
        Kind::Check(_) | Kind::Exclude => expr(&c.body),
    }
}

fn add_constraint_sql(key: &str, c: &Constraint, not_valid: bool) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {}{};",
        quote_key(key),
        quote(&c.name),
        constraint_body(c),
        if not_valid { " NOT VALID" } else { "" }
    )
}

/// `CREATE INDEX`: concurrently, and safe to run again, on a table with rows.
fn create_index_sql(key: &str, i: &Index, concurrently: bool) -> String {
    let rest = if !i.rest.is_empty() {
        expr(&i.rest)
    } else {
        format!("({})", i.columns.iter().map(|c| c.as_deref().map_or("?".to_string(), quote)).collect::<Vec<_>>().join(", "))
    };
    format!(
        "CREATE {}INDEX {}{} ON {} {rest};",
        if i.unique { "UNIQUE " } else { "" },
        if concurrently { "CONCURRENTLY IF NOT EXISTS " } else { "" },
        quote(&i.name),
        quote_key(key)
    )
}

fn drop_index_sql(key: &str, name: &str, concurrently: bool) -> String {
    let qualified = quote_key(&model::sibling_key(key, name));
    if concurrently {
        format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified};")
    } else {
        format!("DROP INDEX {qualified};")
    }
}

/// Tokens one space apart (how the model keeps expressions) as SQL a
/// person would write: the lexer's two `:` of a cast joined again, no space
/// inside parentheses, before a comma or after a function's name
/// (`now ( )` is `now()`); string literals untouched.
fn expr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let step = c.len_utf8();
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && rest.starts_with(" : : ") {
            out.push_str("::");
            rest = &rest[5..];
            continue;
        }
        if !quoted && c == ' ' {
            let next = rest[1..].chars().next();
            let last_word: String = out.chars().rev().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            // An index method (`USING btree (a)`) is not a call.
            let method = out[..out.len() - last_word.len()].to_ascii_uppercase().ends_with("USING ");
            let call =
                next == Some('(') && !last_word.is_empty() && !method && last_word.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if out.ends_with('(') || matches!(next, Some(')' | ',')) || call {
                rest = &rest[1..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[step..];
    }
    out
}

fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

fn literals(values: &[String]) -> String {
    values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ")
}

/// PostgreSQL's reserved words, which an identifier must be quoted to be.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// An identifier as SQL: bare when PostgreSQL reads it back the same, else quoted.
fn quote(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A model key (`audit.events`) as SQL.
fn quote_key(key: &str) -> String {
    match key.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote(schema), quote(name)),
        None => quote(key),
    }
}

/// The steps as revisions: each phase with steps is one, its downgrade the
/// steps' undoing in reverse.
fn assemble(steps: Steps) -> Generated {
    let Steps { mut steps, notes } = steps;
    steps.sort_by_key(|s| (s.phase, s.group));
    let mut parts = Vec::new();
    for (phase, label) in [(Phase::Before, "enum values and dropped indexes"), (Phase::Main, ""), (Phase::After, "indexes and validation")]
    {
        let mine: Vec<&Step> = steps.iter().filter(|s| s.phase == phase).collect();
        if mine.is_empty() {
            continue;
        }
        let join = |it: &mut dyn Iterator<Item = &str>| {
            let mut out = String::new();
            for s in it.filter(|s| !s.is_empty()) {
                out.push_str(s.trim_end());
                out.push_str("\n\n");
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let upgrade = join(&mut mine.iter().map(|s| s.up.as_str()));
        let downgrade = join(&mut mine.iter().rev().map(|s| s.down.as_str()));
        parts.push(Part { transactional: phase == Phase::Main, label, upgrade, downgrade });
    }
    Generated { parts, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_they_must_be() {
        assert_eq!(quote("users"), "users");
        assert_eq!(quote("user"), "\"user\"");
        assert_eq!(quote("Mixed"), "\"Mixed\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_key("audit.order"), "audit.\"order\"");
    }

    #[test]
    fn casts_are_joined_again_outside_strings() {
        assert_eq!(expr("'{}' : : jsonb"), "'{}'::jsonb");
        assert_eq!(expr("' : : ' : : text"), "' : : '::text");
        assert_eq!(expr("now ( )"), "now()");
        assert_eq!(expr("CHECK ( length ( secret ) > 10 )"), "CHECK (length(secret) > 10)");
        assert_eq!(expr("USING btree ( a , lower ( b ) ) WHERE ( x IS NULL )"), "USING btree (a, lower(b)) WHERE (x IS NULL)");
        assert_eq!(expr("'( a , b )'"), "'( a , b )'");
    }

    #[test]
    fn schemas_and_extensions_are_read_from_their_statement() {
        assert_eq!(schema_or_extension("CREATE SCHEMA audit"), Some(("schema", "audit".into())));
        assert_eq!(schema_or_extension("create extension if not exists citext with schema public"), Some(("extension", "citext".into())));
        assert_eq!(schema_or_extension("CREATE EXTENSION \"uuid-ossp\";"), Some(("extension", "uuid-ossp".into())));
        assert_eq!(schema_or_extension("CREATE TABLE audit (id int)"), None);
    }

    #[test]
    fn only_additions_keep_old_values_in_order() {
        let v = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(is_subsequence(&v("a,b"), &v("a,x,b,y")));
        assert!(!is_subsequence(&v("a,b"), &v("b,a")));
        assert!(!is_subsequence(&v("a,b"), &v("a")));
    }

    #[test]
    fn renames_parse() {
        let r: ColumnRename = "public.users.name=full_name".parse().unwrap();
        assert_eq!(r.table, "users");
        assert!("users.=x".parse::<ColumnRename>().is_err());
    }
}
