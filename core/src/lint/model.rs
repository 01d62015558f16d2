//! The in-memory schema model: what the revisions before this one built.
//!
//! Statements are replayed into it in graph order. It holds tables with
//! their columns (type, nullability, default), constraints (primary key,
//! unique, foreign key, check) and indexes, so that rules can ask whether a
//! table existed before the revision and what a foreign key points at, and
//! the reversibility check can compare the schema before an upgrade with the
//! schema after upgrade + downgrade.
//!
//! What the model cannot follow becomes *uncertain* rather than wrong: a
//! table changed by an action kiln does not model is marked `uncertain`
//! (never compared), and a statement that may change anything (`DO`) marks
//! the whole model `opaque` (a missing table is then no evidence).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use super::sql::{self, Action, ConstraintKind, Op, QName};

/// The revision ordinal of tables that existed before any revision kiln
/// read created them (placeholders for tables first seen in `ALTER TABLE`).
pub const PREEXISTING: u32 = u32::MAX;

/// A column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Canonical type, when known.
    pub ty: Option<String>,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Default expression, whitespace-normalised.
    pub default: Option<String>,
    /// `GENERATED ...`, tokens one space apart.
    pub generated: Option<String>,
    /// Ordinal of the revision that added it.
    pub added_in: u32,
}

/// The default the model files for a `serial` column (whose sequence it
/// does not name).
pub const SERIAL_DEFAULT: &str = "nextval(...)";

impl Column {
    /// A `serial` column: fed by the sequence PostgreSQL made for it.
    pub fn is_serial(&self) -> bool {
        self.default.as_deref() == Some(SERIAL_DEFAULT)
    }
}

/// The sequence PostgreSQL makes for the `serial` column `column` of table
/// `key`: `<table>_<column>_seq`, in the table's schema (a model key).
pub fn serial_sequence(key: &str, column: &str) -> String {
    sibling_key(key, &format!("{}_{column}_seq", bare(key)))
}

/// A named constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    /// Name (PostgreSQL's generated name when none was given).
    pub name: String,
    /// Kind and columns.
    pub kind: Kind,
    /// As SQL (`CHECK ( price > 0 )`), without its name and `NOT VALID`.
    pub body: String,
    /// Its name was written (not PostgreSQL's generated one).
    pub named: bool,
}

/// A constraint's kind, with the referenced table as a model key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Primary key columns.
    PrimaryKey(Vec<String>),
    /// Unique columns.
    Unique(Vec<String>),
    /// Foreign key.
    ForeignKey {
        /// Referencing columns.
        columns: Vec<String>,
        /// Referenced table (model key).
        table: String,
        /// Referenced columns; empty means the referenced primary key.
        ref_columns: Vec<String>,
        /// `ON DELETE` / `ON UPDATE` actions, deferrability, `MATCH`: what
        /// differs from PostgreSQL's defaults (see `lint::sql`).
        options: String,
    },
    /// Check on these columns.
    Check(Vec<String>),
    /// Exclusion constraint.
    Exclude,
}

impl Kind {
    fn columns(&self) -> &[String] {
        match self {
            Kind::PrimaryKey(c) | Kind::Unique(c) | Kind::Check(c) | Kind::ForeignKey { columns: c, .. } => c,
            Kind::Exclude => &[],
        }
    }

    fn columns_mut(&mut self) -> Option<&mut Vec<String>> {
        match self {
            Kind::PrimaryKey(c) | Kind::Unique(c) | Kind::Check(c) | Kind::ForeignKey { columns: c, .. } => Some(c),
            Kind::Exclude => None,
        }
    }

    /// What the constraint is, for messages: `FOREIGN KEY (a) REFERENCES t`.
    pub fn describe(&self) -> String {
        match self {
            Kind::PrimaryKey(c) => format!("PRIMARY KEY ({})", c.join(", ")),
            Kind::Unique(c) => format!("UNIQUE ({})", c.join(", ")),
            Kind::ForeignKey { columns, table, ref_columns, options } => {
                let refs = if ref_columns.is_empty() { String::new() } else { format!(" ({})", ref_columns.join(", ")) };
                let options = if options.is_empty() { String::new() } else { format!(" {options}") };
                format!("FOREIGN KEY ({}) REFERENCES {table}{refs}{options}", columns.join(", "))
            }
            Kind::Check(_) => "CHECK (...)".into(),
            Kind::Exclude => "EXCLUDE (...)".into(),
        }
    }
}

/// An index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// Name (PostgreSQL's generated name when none was given).
    pub name: String,
    /// Indexed columns; `None` for an expression.
    pub columns: Vec<Option<String>>,
    /// `UNIQUE`.
    pub unique: bool,
    /// What follows the table name: `USING btree ( email )`.
    pub rest: String,
    /// Its name was written (not PostgreSQL's generated one).
    pub named: bool,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Columns, in order.
    pub columns: Vec<Column>,
    /// Constraints.
    pub constraints: Vec<Constraint>,
    /// Indexes (created with `CREATE INDEX`).
    pub indexes: Vec<Index>,
    /// Changed in a way the model does not follow: never compared.
    pub uncertain: bool,
    /// Ordinal of the revision that created it ([`PREEXISTING`] if unknown).
    pub created_in: u32,
}

impl Table {
    fn new(created_in: u32, uncertain: bool) -> Table {
        Table { columns: Vec::new(), constraints: Vec::new(), indexes: Vec::new(), uncertain, created_in }
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key's columns.
    pub fn primary_key(&self) -> Option<&[String]> {
        self.constraints.iter().find_map(|c| match &c.kind {
            Kind::PrimaryKey(cols) => Some(cols.as_slice()),
            _ => None,
        })
    }

    fn merge_from(&mut self, other: &Table) {
        for c in &other.columns {
            if self.column(&c.name).is_none() {
                self.columns.push(c.clone());
            }
        }
        for c in &other.constraints {
            if !self.constraints.iter().any(|x| x.name == c.name) {
                self.constraints.push(c.clone());
            }
        }
        for i in &other.indexes {
            if !self.indexes.iter().any(|x| x.name == i.name) {
                self.indexes.push(i.clone());
            }
        }
        self.uncertain |= other.uncertain;
        self.created_in = self.created_in.min(other.created_in);
    }
}

/// Some tables of a model as they were at one moment (absent ones as `None`).
pub type Snapshot = Vec<(String, Option<Rc<Table>>)>;

/// The schema at one point of the revision graph.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Tables by key. Shared with the models this one was cloned from until
    /// changed (copy on write), so that a branch point costs a map of
    /// pointers, not a copy of the schema.
    tables: HashMap<Rc<str>, Rc<Table>>,
    /// Index key (`schema.name` or `name`) to table key.
    index_owner: HashMap<Rc<str>, Rc<str>>,
    /// A statement that may have changed anything ran: a table missing from
    /// the model may still exist.
    pub opaque: bool,
    /// Keys of the tables changed, newest first. Models cloned from one
    /// another share the older part, so a merge only looks at the tables
    /// the other parent changed since the two diverged.
    log: Option<Rc<LogNode>>,
    /// Functions, views, types, sequences and triggers, as `<kind>|<name>`
    /// (shared between sibling models until one changes).
    objects: Rc<BTreeSet<String>>,
}

/// How [`Model`] files an object: `function|audit.touch`, `trigger|t on users`.
fn object_key(kind: &str, name: &QName) -> String {
    format!("{kind}|{}", name.key())
}

/// An enum's values are filed beside its type as `enum|<type>|<values>`,
/// joined by [`ENUM_SEP`], so their order counts.
fn enum_prefix(name: &QName) -> String {
    format!("enum|{}|", name.key())
}

pub(crate) const ENUM_SEP: &str = "\u{1f}";

/// One entry of a [`Model`]'s change log.
#[derive(Debug)]
struct LogNode {
    key: Rc<str>,
    /// Entries from here to the end of the list.
    len: usize,
    next: Option<Rc<LogNode>>,
}

impl Drop for LogNode {
    // Iterative, so that a long log does not overflow the stack.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(node) = next {
            match Rc::try_unwrap(node) {
                Ok(mut node) => next = node.next.take(),
                Err(_) => break,
            }
        }
    }
}

fn log_len(log: &Option<Rc<LogNode>>) -> usize {
    log.as_ref().map_or(0, |n| n.len)
}

/// The keys in `theirs` that are not in the part it shares with `ours`.
fn changed_since_divergence(ours: &Option<Rc<LogNode>>, theirs: &Option<Rc<LogNode>>) -> Vec<Rc<str>> {
    let mut a = ours.clone();
    let mut b = theirs.clone();
    let mut out = Vec::new();
    while log_len(&a) > log_len(&b) {
        a = a.and_then(|n| n.next.clone());
    }
    while log_len(&b) > log_len(&a) {
        let n = b.expect("longer list");
        out.push(n.key.clone());
        b = n.next.clone();
    }
    loop {
        match (&a, &b) {
            (Some(x), Some(y)) if !Rc::ptr_eq(x, y) => {
                out.push(y.key.clone());
                let (na, nb) = (x.next.clone(), y.next.clone());
                a = na;
                b = nb;
            }
            _ => return out,
        }
    }
}

/// The bare name in a model key (`s.t` → `t`).
pub fn bare(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The model key of the object `name` in the schema of `key`: an index of
/// table `key`, or the table `key` renamed to `name`.
pub fn sibling_key(key: &str, name: &str) -> String {
    match key.rsplit_once('.') {
        Some((schema, _)) => format!("{schema}.{name}"),
        None => name.to_string(),
    }
}

/// PostgreSQL's name for an unnamed constraint: `<table>_<cols>_<suffix>`.
pub fn generated_name(table: &str, kind: &ConstraintKind) -> String {
    let (cols, suffix): (&[String], &str) = match kind {
        ConstraintKind::PrimaryKey(_) => (&[], "pkey"),
        ConstraintKind::Unique(c) => (c, "key"),
        ConstraintKind::ForeignKey { columns, .. } => (columns, "fkey"),
        ConstraintKind::Check(c) => (c.get(..1).unwrap_or(&[]), "check"),
        ConstraintKind::Exclude => (&[], "excl"),
    };
    let mut parts = vec![bare(table)];
    parts.extend(cols.iter().map(String::as_str));
    parts.push(suffix);
    parts.join("_")
}

/// PostgreSQL's name for an unnamed index: `<table>_<cols>_idx`.
pub fn generated_index_name(table: &str, columns: &[Option<String>]) -> String {
    let mut parts = vec![bare(table).to_string()];
    parts.extend(columns.iter().map(|c| c.clone().unwrap_or_else(|| "expr".into())));
    parts.push("idx".into());
    parts.join("_")
}

fn lower_kind(kind: &ConstraintKind) -> Kind {
    match kind {
        ConstraintKind::PrimaryKey(c) => Kind::PrimaryKey(c.clone()),
        ConstraintKind::Unique(c) => Kind::Unique(c.clone()),
        ConstraintKind::ForeignKey { columns, table, ref_columns, options } => {
            Kind::ForeignKey { columns: columns.clone(), table: table.key(), ref_columns: ref_columns.clone(), options: options.clone() }
        }
        ConstraintKind::Check(c) => Kind::Check(c.clone()),
        ConstraintKind::Exclude => Kind::Exclude,
    }
}

fn lower_constraint(table: &str, c: &sql::ConstraintDef) -> Constraint {
    Constraint {
        name: c.name.as_ref().map_or_else(|| generated_name(table, &c.kind), |n| n.value.clone()),
        kind: lower_kind(&c.kind),
        body: c.body.clone(),
        named: c.name.is_some(),
    }
}

fn lower_column(c: &sql::ColumnDef, rev: u32) -> Column {
    let default = match (&c.default, &c.ty) {
        (Some(d), _) => Some(d.text.clone()),
        (None, Some(t)) if t.serial => Some(SERIAL_DEFAULT.into()),
        _ => None,
    };
    Column {
        name: c.name.value.clone(),
        ty: c.ty.as_ref().map(|t| t.canonical.clone()),
        not_null: c.not_null,
        default,
        generated: c.generated.clone(),
        added_in: rev,
    }
}

impl Model {
    /// Every table, by key.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &Table)> {
        self.tables.iter().map(|(k, t)| (&**k, &**t))
    }

    /// The table filed under `key`.
    pub fn table(&self, key: &str) -> Option<&Table> {
        self.tables.get(key).map(|t| &**t)
    }

    /// The table that owns the index filed under `index_key`.
    pub fn index_owner(&self, index_key: &str) -> Option<&str> {
        self.index_owner.get(index_key).map(|k| &**k)
    }

    /// The table whose primary key, unique or exclusion constraint is
    /// backed by the index `index` (which has the constraint's name).
    fn constraint_index_owner(&self, index: &QName) -> Option<String> {
        let key = index.key();
        self.tables
            .iter()
            .find(|(k, t)| {
                sibling_key(k, &index.name) == key
                    && t.constraints
                        .iter()
                        .any(|c| c.name == index.name && matches!(c.kind, Kind::PrimaryKey(_) | Kind::Unique(_) | Kind::Exclude))
            })
            .map(|(k, _)| k.to_string())
    }

    /// Adds what `other` has and this model lacks (the parents of a merge).
    /// Only the tables `other` changed since the two models diverged are
    /// looked at.
    pub fn merge_from(&mut self, other: &Model) {
        let mut keys = changed_since_divergence(&self.log, &other.log);
        keys.sort();
        keys.dedup();
        for key in keys {
            let Some(t) = other.tables.get(&key) else { continue };
            match self.tables.get_mut(&key) {
                Some(mine) if Rc::ptr_eq(mine, t) => continue,
                Some(mine) => Rc::make_mut(mine).merge_from(t),
                None => {
                    self.tables.insert(key.clone(), t.clone());
                }
            }
            for i in &t.indexes {
                let ik: Rc<str> = sibling_key(&key, &i.name).into();
                self.index_owner.entry(ik).or_insert_with(|| key.clone());
            }
            self.note(&key);
        }
        self.opaque |= other.opaque;
        if !Rc::ptr_eq(&self.objects, &other.objects) {
            let missing: Vec<String> = other.objects.difference(&self.objects).cloned().collect();
            Rc::make_mut(&mut self.objects).extend(missing);
        }
    }

    /// The objects (functions, views, types, sequences, triggers) as they stand.
    pub fn objects(&self) -> Rc<BTreeSet<String>> {
        self.objects.clone()
    }

    /// Puts the objects back as [`Model::objects`] returned them.
    pub fn restore_objects(&mut self, objects: Rc<BTreeSet<String>>) {
        self.objects = objects;
    }

    fn note(&mut self, key: &Rc<str>) {
        let len = log_len(&self.log) + 1;
        self.log = Some(Rc::new(LogNode { key: key.clone(), len, next: self.log.take() }));
    }

    /// The tables `key` as they are now (absent ones as `None`): the part of
    /// the model a revision can change.
    pub fn snapshot(&self, keys: &[String]) -> Snapshot {
        keys.iter().map(|k| (k.clone(), self.tables.get(k.as_str()).cloned())).collect()
    }

    /// Puts a [`Model::snapshot`] back.
    pub fn restore(&mut self, snapshot: Snapshot) {
        // Every table out first: a table renamed back and forth shares its
        // index names with its other name, whose removal must not take the
        // restored table's indexes with it.
        for (key, _) in &snapshot {
            self.remove_table(key);
        }
        for (key, table) in snapshot {
            if let Some(t) = table {
                let key: Rc<str> = key.into();
                for i in &t.indexes {
                    self.index_owner.insert(sibling_key(&key, &i.name).into(), key.clone());
                }
                self.note(&key);
                self.tables.insert(key, t);
            }
        }
    }

    fn remove_table(&mut self, key: &str) -> Option<Rc<Table>> {
        let (key, t) = self.tables.remove_entry(key)?;
        self.note(&key);
        for i in &t.indexes {
            self.index_owner.remove(sibling_key(&key, &i.name).as_str());
        }
        Some(t)
    }

    /// The table `key`, created as an uncertain placeholder when the model
    /// has not seen it (it existed before the revisions kiln read, or was
    /// created by a statement kiln could not follow).
    fn table_mut(&mut self, key: &str) -> &mut Table {
        let key: Rc<str> = match self.tables.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Rc<str> = key.into();
                self.tables.insert(k.clone(), Rc::new(Table::new(PREEXISTING, true)));
                k
            }
        };
        self.note(&key);
        Rc::make_mut(self.tables.get_mut(&key).expect("just inserted"))
    }

    /// The tables a statement may change (model keys), for snapshots.
    /// `index_owners` resolves index names created earlier in the same revision.
    pub fn touched(&self, op: &Op, index_owners: &HashMap<String, String>, out: &mut Vec<String>) {
        match op {
            Op::CreateTable(ct) => out.push(ct.table.key()),
            Op::CreateTableAs(t) => out.push(t.key()),
            Op::AlterTable { table, actions, .. } => {
                out.push(table.key());
                for (_, a) in actions {
                    if let Action::RenameTable(to) = a {
                        out.push(sibling_key(&table.key(), &to.value));
                    }
                }
            }
            Op::CreateIndex(ci) => out.push(ci.table.key()),
            Op::DropIndex { indexes, .. } => {
                for i in indexes {
                    let k = i.key();
                    if let Some(owner) = self.index_owner(&k).or_else(|| index_owners.get(&k).map(String::as_str)) {
                        out.push(owner.to_string());
                    }
                }
            }
            Op::RenameIndex(i, _) => {
                let owner = self.index_owner(&i.key()).or_else(|| index_owners.get(&i.key()).map(String::as_str));
                if let Some(owner) = owner.map(str::to_string).or_else(|| self.constraint_index_owner(i)) {
                    out.push(owner);
                }
            }
            Op::DropTable(tables) => out.extend(tables.iter().map(QName::key)),
            Op::Data(_)
            | Op::Neutral
            | Op::OtherDdl
            | Op::Opaque(_)
            | Op::CreateObject { .. }
            | Op::DropObject { .. }
            | Op::CreateEnum { .. }
            | Op::EnumValue { .. }
            | Op::RenameType { .. } => {}
        }
    }

    /// Applies one statement, as revision `rev` (an ordinal in graph order).
    pub fn apply(&mut self, op: &Op, rev: u32) {
        match op {
            Op::CreateTable(ct) => {
                let key = ct.table.key();
                if ct.if_not_exists && self.tables.contains_key(key.as_str()) {
                    return;
                }
                self.remove_table(&key);
                let mut t = Table::new(rev, ct.partial);
                for c in &ct.columns {
                    t.columns.push(lower_column(c, rev));
                    t.constraints.extend(c.constraints.iter().map(|k| lower_constraint(&key, k)));
                }
                t.constraints.extend(ct.constraints.iter().map(|k| lower_constraint(&key, k)));
                mark_pk_not_null(&mut t);
                let key: Rc<str> = key.into();
                self.note(&key);
                self.tables.insert(key, Rc::new(t));
            }
            Op::CreateTableAs(q) => {
                let key = q.key();
                self.remove_table(&key);
                let key: Rc<str> = key.into();
                self.note(&key);
                self.tables.insert(key, Rc::new(Table::new(rev, true)));
            }
            Op::AlterTable { table, actions, .. } => {
                let key = table.key();
                for (_, a) in actions {
                    self.alter(&key, a, rev);
                }
            }
            Op::CreateIndex(ci) => {
                let key = ci.table.key();
                let name = ci.name.as_ref().map_or_else(|| generated_index_name(&key, &ci.columns), |n| n.value.clone());
                let ik = sibling_key(&key, &name);
                if ci.if_not_exists && self.index_owner.contains_key(ik.as_str()) {
                    return;
                }
                let t = self.table_mut(&key);
                t.indexes.retain(|i| i.name != name);
                t.indexes.push(Index {
                    name,
                    columns: ci.columns.clone(),
                    unique: ci.unique,
                    rest: ci.rest.clone(),
                    named: ci.name.is_some(),
                });
                self.index_owner.insert(ik.into(), key.into());
            }
            Op::DropIndex { indexes, .. } => {
                for i in indexes {
                    let ik = i.key();
                    if let Some(owner) = self.index_owner.remove(ik.as_str()) {
                        if self.tables.contains_key(&owner) {
                            self.table_mut(&owner).indexes.retain(|x| x.name != i.name);
                        }
                    }
                }
            }
            Op::RenameIndex(i, to) => {
                if let Some(owner) = self.index_owner.remove(i.key().as_str()) {
                    self.index_owner.insert(sibling_key(&owner, &to.value).into(), owner.clone());
                    if self.tables.contains_key(&owner) {
                        if let Some(ix) = self.table_mut(&owner).indexes.iter_mut().find(|x| x.name == i.name) {
                            ix.name = to.value.clone();
                        }
                    }
                } else if let Some(owner) = self.constraint_index_owner(i) {
                    // The index of a primary key, unique or exclusion constraint:
                    // PostgreSQL renames the constraint with it.
                    for c in self.table_mut(&owner).constraints.iter_mut().filter(|c| c.name == i.name) {
                        c.name = to.value.clone();
                    }
                }
            }
            Op::DropTable(tables) => {
                for t in tables {
                    self.remove_table(&t.key());
                }
            }
            Op::Opaque(_) => self.opaque = true,
            Op::CreateObject { kind, name, .. } => {
                Rc::make_mut(&mut self.objects).insert(object_key(kind, name));
            }
            Op::DropObject { kind, names } => {
                for name in names {
                    let objects = Rc::make_mut(&mut self.objects);
                    objects.remove(&object_key(kind, name));
                    if *kind == "type" {
                        let prefix = enum_prefix(name);
                        objects.retain(|k| !k.starts_with(&prefix));
                    }
                }
            }
            Op::CreateEnum { name, values } => {
                let objects = Rc::make_mut(&mut self.objects);
                objects.insert(object_key("type", name));
                objects.insert(format!("{}{}", enum_prefix(name), values.join(ENUM_SEP)));
            }
            Op::RenameType { from, to } => {
                let new = QName { schema: from.schema.clone(), name: to.clone(), span: from.span.clone() };
                let (old_enum, new_enum) = (enum_prefix(from), enum_prefix(&new));
                let objects = Rc::make_mut(&mut self.objects);
                if objects.remove(&object_key("type", from)) {
                    objects.insert(object_key("type", &new));
                }
                if let Some(entry) = objects.iter().find(|k| k.starts_with(&old_enum)).cloned() {
                    objects.remove(&entry);
                    objects.insert(format!("{new_enum}{}", &entry[old_enum.len()..]));
                }
            }
            Op::EnumValue { name, value, anchor, after, renamed } => {
                let prefix = enum_prefix(name);
                // A type kiln did not see created (a `DO` block, before kiln) is left alone.
                let Some(entry) = self.objects.iter().find(|k| k.starts_with(&prefix)).cloned() else { return };
                let mut values: Vec<String> = entry[prefix.len()..].split(ENUM_SEP).filter(|v| !v.is_empty()).map(str::to_string).collect();
                match renamed {
                    Some(old) => values.iter_mut().filter(|v| *v == old).for_each(|v| v.clone_from(value)),
                    None if values.contains(value) => {}
                    None => {
                        let at = anchor
                            .as_ref()
                            .and_then(|a| values.iter().position(|v| v == a))
                            .map_or(values.len(), |i| i + usize::from(*after));
                        values.insert(at, value.clone());
                    }
                }
                let objects = Rc::make_mut(&mut self.objects);
                objects.remove(&entry);
                objects.insert(format!("{prefix}{}", values.join(ENUM_SEP)));
            }
            Op::Data(_) | Op::Neutral | Op::OtherDdl => {}
        }
    }

    fn alter(&mut self, key: &str, action: &Action, rev: u32) {
        if let Action::RenameTable(to) = action {
            let new_key = sibling_key(key, &to.value);
            let t = self.remove_table(key).unwrap_or_else(|| Rc::new(Table::new(PREEXISTING, true)));
            let refers = |t: &Table| t.constraints.iter().any(|c| matches!(&c.kind, Kind::ForeignKey { table, .. } if table == key));
            let referring: Vec<Rc<str>> = self.tables.iter().filter(|(_, t)| refers(t)).map(|(k, _)| k.clone()).collect();
            for other in referring {
                for c in &mut self.table_mut(&other).constraints {
                    if let Kind::ForeignKey { table, .. } = &mut c.kind {
                        if table == key {
                            *table = new_key.clone();
                        }
                    }
                }
            }
            self.restore(vec![(new_key, Some(t))]);
            return;
        }
        let t = self.table_mut(key);
        match action {
            Action::AddColumn(c) => {
                t.columns.retain(|x| x.name != c.name.value);
                t.columns.push(lower_column(c, rev));
                t.constraints.extend(c.constraints.iter().map(|k| lower_constraint(key, k)));
                mark_pk_not_null(t);
            }
            Action::DropColumn(c) => {
                t.columns.retain(|x| x.name != c.value);
                t.constraints.retain(|k| !k.kind.columns().contains(&c.value));
                let dropped: Vec<String> =
                    t.indexes.iter().filter(|i| i.columns.iter().any(|x| x.as_deref() == Some(&c.value))).map(|i| i.name.clone()).collect();
                t.indexes.retain(|i| !dropped.contains(&i.name));
                for name in dropped {
                    self.index_owner.remove(sibling_key(key, &name).as_str());
                }
            }
            Action::SetType(c, ty) => {
                if let Some(col) = t.columns.iter_mut().find(|x| x.name == c.value) {
                    col.ty = Some(ty.canonical.clone());
                }
            }
            Action::SetNotNull(c) | Action::DropNotNull(c) => {
                if let Some(col) = t.columns.iter_mut().find(|x| x.name == c.value) {
                    col.not_null = matches!(action, Action::SetNotNull(_));
                }
            }
            Action::SetDefault(c, d) => {
                if let Some(col) = t.columns.iter_mut().find(|x| x.name == c.value) {
                    col.default = Some(d.text.clone());
                }
            }
            Action::DropDefault(c) => {
                if let Some(col) = t.columns.iter_mut().find(|x| x.name == c.value) {
                    col.default = None;
                }
            }
            Action::AddConstraint(c) => {
                let c = lower_constraint(key, c);
                t.constraints.retain(|x| x.name != c.name);
                t.constraints.push(c);
                mark_pk_not_null(t);
            }
            Action::DropConstraint(name) => t.constraints.retain(|x| x.name != name.value),
            Action::RenameColumn(from, to) => {
                for col in t.columns.iter_mut().filter(|x| x.name == from.value) {
                    col.name = to.value.clone();
                }
                for k in &mut t.constraints {
                    for col in k.kind.columns_mut().into_iter().flatten().filter(|x| **x == from.value) {
                        *col = to.value.clone();
                    }
                    k.body = renamed_in(&k.body, &from.value, &to.value);
                }
                for i in &mut t.indexes {
                    for col in i.columns.iter_mut().flatten().filter(|x| **x == from.value) {
                        *col = to.value.clone();
                    }
                    i.rest = renamed_in(&i.rest, &from.value, &to.value);
                }
            }
            Action::RenameConstraint(from, to) => {
                for k in t.constraints.iter_mut().filter(|x| x.name == from.value) {
                    k.name = to.value.clone();
                }
            }
            Action::Unknown(_) => t.uncertain = true,
            Action::Inert | Action::RenameTable(_) => {}
        }
    }
}

/// SQL kept as tokens one space apart, with the identifier `from` (bare
/// or quoted) now `to`.
fn renamed_in(text: &str, from: &str, to: &str) -> String {
    let quoted = format!("\"{from}\"");
    text.split(' ').map(|t| if t == from || t == quoted { to } else { t }).collect::<Vec<_>>().join(" ")
}

fn mark_pk_not_null(t: &mut Table) {
    let pk: Vec<String> = t.primary_key().map(<[String]>::to_vec).unwrap_or_default();
    for c in t.columns.iter_mut().filter(|c| pk.contains(&c.name)) {
        c.not_null = true;
    }
}

/// One difference between the schema before an upgrade and after upgrade + downgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What is wrong, in a few words: ``index `ix_a_b` on `a` is left over``.
    pub what: String,
    /// The SQL that would fix the downgrade, when kiln can write it.
    pub fix: Option<String>,
}

/// Compares the tables of two snapshots (before, and after upgrade + downgrade).
/// Uncertain tables are skipped: the model does not know them well enough.
/// What the downgrade left of the functions, views, types, sequences and
/// triggers the upgrade started from (`<kind>|<name>` keys).
pub fn object_differences(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<Difference> {
    let mut out = Vec::new();
    // An enum whose type is on both sides, with other values after the round trip.
    let enums = |set: &BTreeSet<String>| -> BTreeMap<String, String> {
        set.iter()
            .filter_map(|k| k.strip_prefix("enum|")?.split_once('|'))
            .map(|(t, v)| (t.to_string(), v.split(ENUM_SEP).map(|x| format!("'{x}'")).collect::<Vec<_>>().join(", ")))
            .collect()
    };
    let (was, now) = (enums(before), enums(after));
    for (ty, values) in &now {
        match was.get(ty) {
            Some(old) if old != values => out.push(Difference {
                what: format!("enum `{ty}` has the values ({values}) after the downgrade; before the upgrade it had ({old})"),
                fix: Some(
                    "PostgreSQL cannot drop an enum value: create the type anew with the old values, move each column to it \
                     (`ALTER COLUMN ... TYPE <new> USING <column>::text::<new>`), drop the old type and rename the new one"
                        .to_string(),
                ),
            }),
            _ => {}
        }
    }
    let (before, after): (BTreeSet<&String>, BTreeSet<&String>) =
        (before.iter().filter(|k| !k.starts_with("enum|")).collect(), after.iter().filter(|k| !k.starts_with("enum|")).collect());
    for key in after.difference(&before) {
        let (kind, name) = key.split_once('|').unwrap_or(("object", key));
        let fix = match name.split_once(" on ") {
            Some((trigger, table)) if kind == "trigger" => format!("DROP TRIGGER {trigger} ON {table};"),
            _ => format!("DROP {} {name};", kind.to_uppercase()),
        };
        out.push(Difference {
            what: format!("{kind} `{name}` is left over: the upgrade creates it and the downgrade does not drop it"),
            fix: Some(fix),
        });
    }
    for key in before.difference(&after) {
        let (kind, name) = key.split_once('|').unwrap_or(("object", key));
        out.push(Difference { what: format!("{kind} `{name}` is missing: the downgrade does not create it again"), fix: None });
    }
    out
}

pub fn differences(before: &Snapshot, after: &Snapshot) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for ((key, b), (_, a)) in before.iter().zip(after) {
        if seen.contains(&key.as_str()) {
            continue;
        }
        seen.push(key);
        match (b, a) {
            (None, None) => {}
            (Some(b), _) | (_, Some(b)) if b.uncertain => {}
            (_, Some(a)) if a.uncertain => {}
            (Some(_), None) => {
                out.push(Difference { what: format!("table `{key}` is missing: the downgrade does not re-create it"), fix: None })
            }
            (None, Some(_)) => out.push(Difference {
                what: format!("table `{key}` is left over: the upgrade creates it and the downgrade does not drop it"),
                fix: Some(format!("DROP TABLE {key};")),
            }),
            (Some(b), Some(a)) => table_differences(key, b, a, &mut out),
        }
    }
    out
}

fn table_differences(key: &str, b: &Table, a: &Table, out: &mut Vec<Difference>) {
    for c in &b.columns {
        match a.column(&c.name) {
            None => out
                .push(Difference { what: format!("column `{key}.{}` is missing: the downgrade does not add it back", c.name), fix: None }),
            Some(x) => {
                if x.ty != c.ty && x.ty.is_some() && c.ty.is_some() {
                    out.push(Difference {
                        what: format!(
                            "column `{key}.{}` is `{}` after the downgrade, `{}` before the upgrade",
                            c.name,
                            x.ty.as_deref().unwrap_or("?"),
                            c.ty.as_deref().unwrap_or("?")
                        ),
                        fix: Some(format!("ALTER TABLE {key} ALTER COLUMN {} TYPE {};", c.name, c.ty.as_deref().unwrap_or("?"))),
                    });
                }
                if x.not_null != c.not_null {
                    let (now, fix) = if x.not_null { ("NOT NULL", "DROP NOT NULL") } else { ("nullable", "SET NOT NULL") };
                    out.push(Difference {
                        what: format!("column `{key}.{}` is {now} after the downgrade, and was not before the upgrade", c.name),
                        fix: Some(format!("ALTER TABLE {key} ALTER COLUMN {} {fix};", c.name)),
                    });
                }
                if x.default != c.default {
                    out.push(Difference {
                        what: format!(
                            "column `{key}.{}` has default {} after the downgrade, {} before the upgrade",
                            c.name,
                            x.default.as_deref().map_or("none".to_string(), |d| format!("`{d}`")),
                            c.default.as_deref().map_or("none".to_string(), |d| format!("`{d}`"))
                        ),
                        fix: None,
                    });
                }
            }
        }
    }
    for c in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
        out.push(Difference {
            what: format!("column `{key}.{}` is left over: the upgrade adds it and the downgrade does not drop it", c.name),
            fix: Some(format!("ALTER TABLE {key} DROP COLUMN {};", c.name)),
        });
    }
    // The same columns in another order: a downgrade that re-adds a dropped
    // column puts it last (PostgreSQL adds columns at the end).
    let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let (before, after) = (names(b), names(a));
    let mut sorted = (before.clone(), after.clone());
    sorted.0.sort();
    sorted.1.sort();
    if sorted.0 == sorted.1 && before != after {
        let moved: Vec<&String> = before.iter().zip(&after).filter(|(x, y)| x != y).map(|(x, _)| x).take(1).collect();
        out.push(Difference {
            what: format!(
                "columns of `{key}` are `{}` after the downgrade, `{}` before the upgrade{}: a re-added column goes last, so \
                 `SELECT *`, `COPY` and positional `INSERT` see another table; restoring the order means rebuilding the table, \
                 or allow `reversible` for this revision if nothing depends on column order",
                after.join(", "),
                before.join(", "),
                moved.first().map_or(String::new(), |m| format!(" (`{m}` moved)"))
            ),
            fix: None,
        });
    }
    for c in &b.constraints {
        match a.constraints.iter().find(|x| x.name == c.name) {
            None => out.push(Difference {
                what: format!("constraint `{}` on `{key}` ({}) is missing: the downgrade does not add it back", c.name, c.kind.describe()),
                fix: Some(format!("ALTER TABLE {key} ADD CONSTRAINT {} {};", c.name, c.kind.describe()))
                    .filter(|_| !matches!(c.kind, Kind::Check(_) | Kind::Exclude)),
            }),
            Some(x) if x.kind != c.kind => out.push(Difference {
                what: format!(
                    "constraint `{}` on `{key}` is {} after the downgrade, {} before the upgrade",
                    c.name,
                    x.kind.describe(),
                    c.kind.describe()
                ),
                fix: None,
            }),
            Some(_) => {}
        }
    }
    for c in a.constraints.iter().filter(|c| !b.constraints.iter().any(|x| x.name == c.name)) {
        out.push(Difference {
            what: format!("constraint `{}` on `{key}` is left over: the upgrade adds it and the downgrade does not drop it", c.name),
            fix: Some(format!("ALTER TABLE {key} DROP CONSTRAINT {};", c.name)),
        });
    }
    for i in &b.indexes {
        if !a.indexes.iter().any(|x| x.name == i.name) {
            out.push(Difference {
                what: format!("index `{}` on `{key}` is missing: the downgrade does not re-create it", i.name),
                fix: None,
            });
        }
    }
    for i in a.indexes.iter().filter(|i| !b.indexes.iter().any(|x| x.name == i.name)) {
        let name = sibling_key(key, &i.name);
        out.push(Difference {
            what: format!("index `{}` on `{key}` is left over: the upgrade creates it and the downgrade does not drop it", i.name),
            fix: Some(format!("DROP INDEX {name};")),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(model: &mut Model, sql: &str, rev: u32) {
        for s in sql::parse(sql).stmts {
            model.apply(&s.op, rev);
        }
    }

    #[test]
    fn tables_columns_constraints_and_indexes_follow_the_sql() {
        let mut m = Model::default();
        replay(
            &mut m,
            "CREATE TABLE users (id varchar(26) PRIMARY KEY, email text NOT NULL, CONSTRAINT uq_users_email UNIQUE (email));",
            0,
        );
        replay(&mut m, "CREATE INDEX ix_users_email ON users (email); ALTER TABLE users ADD COLUMN name text DEFAULT 'x', ADD CONSTRAINT c CHECK (name <> '');", 1);
        let t = m.table("users").unwrap();
        assert_eq!(t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["id", "email", "name"]);
        assert!(t.column("id").unwrap().not_null);
        assert_eq!(t.column("name").unwrap().default.as_deref(), Some("'x'"));
        assert_eq!(t.constraints.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["users_pkey", "uq_users_email", "c"]);
        assert_eq!(m.index_owner("ix_users_email"), Some("users"));
        replay(&mut m, "ALTER TABLE users RENAME COLUMN email TO mail; ALTER TABLE users RENAME TO people;", 2);
        let t = m.table("people").unwrap();
        assert_eq!(t.indexes[0].columns, [Some("mail".to_string())]);
        assert_eq!(m.index_owner("ix_users_email"), Some("people"));
        replay(&mut m, "ALTER TABLE people DROP COLUMN mail; DROP INDEX IF EXISTS ix_users_email;", 3);
        let t = m.table("people").unwrap();
        assert!(t.indexes.is_empty() && t.constraints.len() == 2, "{t:?}");
        assert!(m.index_owner("ix_users_email").is_none());
    }

    #[test]
    fn a_rename_undone_and_restored_keeps_the_index_owners() {
        let mut m = Model::default();
        replay(&mut m, "CREATE TABLE package_group (id int, group_id int); CREATE INDEX ix_group_id ON package_group (group_id);", 0);
        let keys = vec!["member".to_string(), "package_group".to_string()];
        replay(&mut m, "ALTER TABLE package_group RENAME TO member;", 1);
        let after = m.snapshot(&keys);
        replay(&mut m, "ALTER TABLE member RENAME TO package_group;", 1);
        m.restore(after);
        assert_eq!(m.index_owner("ix_group_id"), Some("member"));
        replay(&mut m, "DROP INDEX ix_group_id;", 2);
        assert!(m.table("member").unwrap().indexes.is_empty());
        // The index of a constraint renames the constraint (CKAN's 034).
        replay(
            &mut m,
            "ALTER TABLE member ADD CONSTRAINT package_group_pkey PRIMARY KEY (id); ALTER INDEX package_group_pkey RENAME TO member_pkey;",
            3,
        );
        assert_eq!(m.table("member").unwrap().constraints[0].name, "member_pkey");
    }

    #[test]
    fn what_the_model_cannot_follow_is_uncertain() {
        let mut m = Model::default();
        replay(&mut m, "ALTER TABLE legacy ADD COLUMN x int; CREATE TABLE t (a int); ALTER TABLE t SET SCHEMA other;", 0);
        assert!(m.table("legacy").unwrap().uncertain && m.table("legacy").unwrap().created_in == PREEXISTING);
        assert!(m.table("t").unwrap().uncertain);
        assert!(!m.opaque);
        replay(&mut m, "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$;", 1);
        assert!(m.opaque);
    }

    #[test]
    fn differences_name_what_is_left_over_or_missing() {
        let mut m = Model::default();
        replay(&mut m, "CREATE TABLE a (id int, x int);", 0);
        let keys = vec!["a".to_string(), "b".to_string()];
        let before = m.snapshot(&keys);
        replay(&mut m, "CREATE TABLE b (id int); CREATE INDEX ix_a_x ON a (x); ALTER TABLE a ADD COLUMN y int, DROP COLUMN x;", 1);
        replay(&mut m, "ALTER TABLE a DROP COLUMN y;", 1);
        let d: Vec<String> = differences(&before, &m.snapshot(&keys)).into_iter().map(|d| d.what).collect();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("column `a.x` is missing"), "{d:?}");
        assert!(d[1].starts_with("table `b` is left over"), "{d:?}");
    }
}
