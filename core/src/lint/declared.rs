//! The declared schema (`schema = "schema.sql"` in kiln.toml) against the
//! migrations' head: Alembic's `alembic check` at compile time.
//!
//! Both sides are replayed into the lint pass's [`Model`] by the same
//! parser, so a hand-written file and `pg_dump --schema-only` output read
//! alike: names lose a `public.` schema, defaults lose their `::type`
//! casts, types are canonical (`character varying(26)` is `varchar(26)`).
//! What the model cannot follow (a `DO` block, a table changed by a
//! statement it does not understand, a serial's sequence) is left out of
//! the comparison: inconclusive, never a false error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use super::check::Parsedrev;
use super::model::{self, Model, Table};
use super::names;
use super::sql::{self, Op};
use crate::config::Config;
use crate::diagnostic::{Diagnostic, FileId};
use crate::validate::LoadedRevision;

/// The rule's name, for `[lints]` and allow comments.
pub(super) const RULE: &str = "declared-schema";

/// kiln's own tables, which a dump of a migrated database holds.
pub(super) const KILN_TABLES: [&str; 3] = ["alembic_version", "kiln_history", "kiln_state"];

/// The help for an object the declared schema has and the migrations do not.
const HELP_ADD: &str = "`kiln revision --autogenerate -m \"...\"` writes the revision that gives it; or change the declared schema";

/// The help for an object the migrations give and the declared schema lacks.
const HELP_DROP: &str = "declare it, or write the revision that drops it (`kiln revision --autogenerate -m \"...\"`)";

/// An object of [`Model::objects`] for a message: `function \`touch\``,
/// or an enum's values.
fn describe_object(kind: &str, name: &str) -> String {
    if kind == "enum" {
        format!("enum values `{}`", name.replace(model::ENUM_SEP, "', '"))
    } else {
        format!("{kind} `{name}`")
    }
}

/// Where each declared object is written in the schema file.
#[derive(Default)]
pub(super) struct Spans {
    tables: HashMap<String, Range<usize>>,
    columns: HashMap<(String, String), Range<usize>>,
    indexes: HashMap<String, Range<usize>>,
    constraints: HashMap<(String, String), Range<usize>>,
    /// By [`norm_object`] key: the statement that creates it.
    pub(super) objects: HashMap<String, Range<usize>>,
}

/// `public.users` and `users` are the same table.
pub(super) fn norm(key: &str) -> String {
    key.strip_prefix("public.").unwrap_or(key).to_string()
}

/// An object key (`function|public.touch`, `trigger|tr on public.t`) without `public.`.
pub(super) fn norm_object(key: &str) -> String {
    key.replacen("|public.", "|", 1).replace(" on public.", " on ")
}

/// A default without its `::type` casts, which `pg_dump` writes and a
/// hand-written file usually does not (`'free' :: character varying`).
pub(super) fn norm_default(text: &str) -> String {
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let cast = match (tokens[i], tokens.get(i + 1)) {
            ("::", _) => Some(1),
            (":", Some(&":")) => Some(2),
            _ => None,
        };
        if let Some(skip) = cast {
            i += skip;
            while i < tokens.len() && tokens[i].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '"')) {
                i += 1;
                // A length or precision: `( 26 )`, `[ ]`.
                if tokens.get(i) == Some(&"(") && tokens.get(i + 2) == Some(&")") {
                    i += 3;
                } else if tokens.get(i) == Some(&"[") && tokens.get(i + 1) == Some(&"]") {
                    i += 2;
                }
            }
            continue;
        }
        out.push(tokens[i]);
        i += 1;
    }
    out.join(" ")
}

/// The declared schema's statements, parsed (on a thread of its own).
pub(super) struct Parse(pub(super) sql::Parsed);

/// Parses a declared schema, its psql meta-commands blanked.
pub(super) fn parse(text: &str) -> Parse {
    Parse(sql::parse(&crate::sql::without_meta_commands(text)))
}

/// [`parse`], through the build script's cache when there is one: a
/// rebuild with the declared schema unchanged does not parse it again.
pub(super) fn parse_cached(text: &str, cache: Option<&super::Cache>) -> Parse {
    match cache {
        Some(c) => Parse(c.declared(text, || parse(text).0)),
        None => parse(text),
    }
}

/// The declared schema replayed into a model, with where each object is.
pub(super) fn declared_model(Parse(parsed): &Parse) -> (Model, Spans, Vec<(String, Range<usize>)>) {
    let mut errors: Vec<(String, Range<usize>)> = parsed.errors.clone();
    if let Some(e) = &parsed.too_complex {
        errors.push(e.clone());
    }
    let mut m = Model::default();
    let mut spans = Spans::default();
    for st in &parsed.stmts {
        match &st.op {
            Op::CreateTable(ct) => {
                let t = norm(&ct.table.key());
                spans.tables.entry(t.clone()).or_insert(st.span.clone());
                for c in &ct.columns {
                    spans.columns.insert((t.clone(), c.name.value.clone()), c.span.clone());
                    for k in &c.constraints {
                        if let Some(n) = &k.name {
                            spans.constraints.insert((t.clone(), n.value.clone()), k.span.clone());
                        }
                    }
                }
                for k in &ct.constraints {
                    if let Some(n) = &k.name {
                        spans.constraints.insert((t.clone(), n.value.clone()), k.span.clone());
                    }
                }
            }
            Op::AlterTable { table, actions, .. } => {
                let t = norm(&table.key());
                for (span, a) in actions {
                    match a {
                        sql::Action::AddConstraint(k) => {
                            if let Some(n) = &k.name {
                                spans.constraints.insert((t.clone(), n.value.clone()), span.clone());
                            }
                        }
                        sql::Action::AddColumn(c) => {
                            spans.columns.insert((t.clone(), c.name.value.clone()), span.clone());
                        }
                        _ => {}
                    }
                }
            }
            Op::CreateIndex(ci) => {
                if let Some(n) = &ci.name {
                    spans.indexes.insert(n.value.clone(), st.span.clone());
                }
            }
            Op::CreateObject { kind, name, .. } => {
                spans.objects.insert(norm_object(&format!("{kind}|{}", name.key())), st.span.clone());
            }
            Op::CreateEnum { name, .. } => {
                spans.objects.insert(norm_object(&format!("type|{}", name.key())), st.span.clone());
            }
            _ => {}
        }
        m.apply(&st.op, 0);
    }
    (m, spans, errors)
}

/// A table as compared: columns by name (order is the physical layout,
/// not part of what an application expects), constraints and indexes by
/// name, names without `public.`. A column fed by a sequence (`serial`,
/// `nextval(...)`) has no default here: which sequence is not compared.
struct Shape {
    columns: BTreeMap<String, (Option<String>, bool, Option<String>)>,
    constraints: BTreeMap<String, String>,
    indexes: BTreeMap<String, (Vec<Option<String>>, bool)>,
}

/// What a constraint is, as compared: [`model::Kind::describe`] with the
/// referenced table without `public.`.
pub(super) fn kind_text(kind: &model::Kind) -> String {
    match kind {
        model::Kind::ForeignKey { columns, table, ref_columns, options } => model::Kind::ForeignKey {
            columns: columns.clone(),
            table: norm(table),
            ref_columns: ref_columns.clone(),
            options: options.clone(),
        }
        .describe(),
        other => other.describe(),
    }
}

/// The sequences that feed a column (`nextval('users_id_seq')`), as the
/// comparison leaves them out: a `serial` creates one the model does not
/// see, and `pg_dump` writes it out.
pub(super) fn fed_sequences<'a>(tables: impl Iterator<Item = &'a Table>) -> BTreeSet<String> {
    tables.flat_map(|t| &t.columns).filter_map(|c| fed_by(c.default.as_deref()?)).collect()
}

/// The sequence a default takes its values from: `nextval('s'::regclass)` is `s`.
fn fed_by(default: &str) -> Option<String> {
    if !default.contains("nextval") {
        return None;
    }
    default.split('\'').nth(1).map(norm)
}

/// A model's objects as compared: without `public.`, without the sequences in `fed`.
pub(super) fn compared_objects(m: &Model, fed: &BTreeSet<String>) -> BTreeSet<String> {
    m.objects()
        .iter()
        .map(|k| norm_object(k))
        .filter(|k| !(k.starts_with("sequence|") && fed.contains(k.trim_start_matches("sequence|"))))
        .collect()
}

/// Names the constraints and indexes the declared schema leaves unnamed:
/// the name of the one of the same definition in `got` (the table the
/// migrations give), else the name `[naming_convention]` gives it when its
/// naming rule is on (what `kiln revision --autogenerate` writes), else
/// PostgreSQL's.
pub(super) fn adopt_names(want: &mut Table, got: Option<&Table>, key: &str, config: &Config) {
    let table = model::bare(key);
    let naming = &config.naming;
    let on = |rule: &str| config.level(rule) != super::Level::Allow;
    for c in want.constraints.iter_mut().filter(|c| !c.named) {
        let text = kind_text(&c.kind);
        if let Some(same) = got.and_then(|g| g.constraints.iter().find(|x| kind_text(&x.kind) == text)) {
            c.name.clone_from(&same.name);
            continue;
        }
        let conventional = match &c.kind {
            model::Kind::Unique(cols) if on("unique-name") => Some(names::render(&naming.uq, table, cols, None, None)),
            model::Kind::ForeignKey { columns, table: to, ref_columns, .. } if on("foreign-key-name") => {
                Some(names::render(&naming.fk, table, columns, Some((model::bare(to), ref_columns.as_slice())), None))
            }
            model::Kind::PrimaryKey(cols) if on("primary-key-name") => {
                naming.pk.as_ref().map(|t| names::render(t, table, cols, None, None))
            }
            _ => None,
        };
        if let Some(name) = conventional {
            c.name = name;
        }
    }
    for i in want.indexes.iter_mut().filter(|i| !i.named) {
        if let Some(same) = got.and_then(|g| g.indexes.iter().find(|x| x.columns == i.columns && x.unique == i.unique)) {
            i.name.clone_from(&same.name);
            continue;
        }
        match i.columns.iter().cloned().collect::<Option<Vec<String>>>() {
            Some(cols) if on("index-name") => i.name = names::render(&naming.ix, table, &cols, None, None),
            _ => {}
        }
    }
}

fn shape(table: &Table) -> Shape {
    let columns = table
        .columns
        .iter()
        .map(|c| {
            let default = c.default.as_deref().map(norm_default);
            let fed = default.as_deref().is_some_and(|d| d.contains("nextval"));
            (c.name.clone(), (c.ty.clone(), c.not_null, if fed { None } else { default }))
        })
        .collect();
    let constraints = table.constraints.iter().map(|k| (k.name.clone(), kind_text(&k.kind))).collect();
    let indexes = table.indexes.iter().map(|i| (norm(&i.name), (i.columns.clone(), i.unique))).collect();
    Shape { columns, constraints, indexes }
}

/// Compares the declared schema with `head` (the merged model of every
/// head), pushing one diagnostic per difference.
pub(super) fn compare(
    config: &Config,
    parse: Parse,
    head: &Model,
    revs: &[LoadedRevision],
    parsed: &[Parsedrev],
    order: &[usize],
    out: &mut Vec<Diagnostic>,
) {
    let Some(declared) = &config.declared else { return };
    let (want, spans, errors) = declared_model(&parse);
    let file = declared.file;
    for (message, span) in errors {
        out.push(
            Diagnostic::error(RULE, format!("the declared schema does not parse: {message}"))
                .at(file, span)
                .with_help("the declared schema is plain PostgreSQL DDL, as `pg_dump --schema-only` writes it"),
        );
    }
    let at = |span: Option<&Range<usize>>| span.cloned().unwrap_or(0..0);
    let have: BTreeMap<String, &Table> = head.tables().map(|(k, t)| (norm(k), t)).collect();
    let declared_tables: BTreeMap<String, &Table> =
        want.tables().map(|(k, t)| (norm(k), t)).filter(|(k, _)| !KILN_TABLES.contains(&k.as_str())).collect();
    // Every table's, uncertain ones too: a sequence is left out of the
    // comparison whatever is known of the table it feeds.
    let fed_sequences = fed_sequences(want.tables().chain(head.tables()).map(|(_, t)| t));

    for (name, table) in &declared_tables {
        match have.get(name) {
            None if !head.opaque => out.push(
                Diagnostic::error(RULE, format!("table `{name}` is declared, but the migrations do not create it"))
                    .at(file, at(spans.tables.get(name)))
                    .with_help(HELP_ADD),
            ),
            None => {}
            Some(got) if table.uncertain || got.uncertain => {}
            Some(got) => {
                let mut table = (*table).clone();
                adopt_names(&mut table, Some(got), name, config);
                compare_table(name, &shape(&table), &shape(got), &spans, file, out);
            }
        }
    }
    for (name, table) in &have {
        if declared_tables.contains_key(name) || want.opaque || KILN_TABLES.contains(&name.as_str()) {
            continue;
        }
        let (rev_file, span) = created_at(name, table.created_in, revs, parsed, order);
        let mut d =
            Diagnostic::error(RULE, format!("table `{name}` exists after the migrations, but the declared schema does not have it"))
                .with_help(HELP_DROP);
        d = match rev_file {
            Some(f) => d.at(f, span),
            None => d.at(file, 0..0),
        };
        out.push(d);
    }

    // Functions, views, types, sequences and triggers, by name; enums by values.
    let (want_objects, have_objects) = (compared_objects(&want, &fed_sequences), compared_objects(head, &fed_sequences));
    for key in want_objects.difference(&have_objects) {
        if head.opaque {
            break;
        }
        let (kind, name) = key.split_once('|').unwrap_or(("object", key));
        let span = spans
            .objects
            .get(key)
            .or_else(|| key.strip_prefix("enum|").and_then(|k| spans.objects.get(&format!("type|{}", k.split('|').next().unwrap_or(k)))));
        let what = describe_object(kind, name);
        out.push(
            Diagnostic::error(RULE, format!("{what} is declared, but the migrations do not give it"))
                .at(file, at(span))
                .with_help(HELP_ADD),
        );
    }
    for key in have_objects.difference(&want_objects) {
        if want.opaque {
            break;
        }
        let (kind, name) = key.split_once('|').unwrap_or(("object", key));
        let what = describe_object(kind, name);
        out.push(
            Diagnostic::error(RULE, format!("{what} exists after the migrations, but the declared schema does not have it"))
                .at(file, 0..0)
                .with_help(HELP_DROP),
        );
    }
}

fn compare_table(name: &str, want: &Shape, got: &Shape, spans: &Spans, file: FileId, out: &mut Vec<Diagnostic>) {
    let table_at = spans.tables.get(name).cloned().unwrap_or(0..0);
    let mut push = |span: Option<&Range<usize>>, message: String, help: &str| {
        out.push(Diagnostic::error(RULE, message).at(file, span.cloned().unwrap_or_else(|| table_at.clone())).with_help(help.to_string()));
    };
    for (col, (ty, not_null, default)) in &want.columns {
        let span = spans.columns.get(&(name.to_string(), col.clone()));
        match got.columns.get(col) {
            None => push(span, format!("column `{name}.{col}` is declared, but the migrations do not add it"), HELP_ADD),
            Some((gty, gnn, gdef)) => {
                if let (Some(a), Some(b)) = (ty, gty) {
                    if a != b {
                        push(span, format!("column `{name}.{col}` is declared `{a}`, but the migrations make it `{b}`"), HELP_ADD);
                    }
                }
                if not_null != gnn {
                    let word = |n: &bool| if *n { "NOT NULL" } else { "nullable" };
                    push(
                        span,
                        format!("column `{name}.{col}` is declared {}, but the migrations make it {}", word(not_null), word(gnn)),
                        HELP_ADD,
                    );
                }
                if default != gdef {
                    let show = |d: &Option<String>| d.as_deref().map_or("no default".to_string(), |d| format!("DEFAULT {d}"));
                    push(
                        span,
                        format!("column `{name}.{col}` is declared with {}, but the migrations give {}", show(default), show(gdef)),
                        HELP_ADD,
                    );
                }
            }
        }
    }
    for col in got.columns.keys().filter(|c| !want.columns.contains_key(*c)) {
        push(None, format!("column `{name}.{col}` exists after the migrations, but the declared schema does not have it"), HELP_DROP);
    }
    for (k, what) in &want.constraints {
        let span = spans.constraints.get(&(name.to_string(), k.clone()));
        match got.constraints.get(k) {
            None => push(span, format!("constraint `{k}` on `{name}` ({what}) is declared, but the migrations do not add it"), HELP_ADD),
            Some(g) if g != what => {
                push(span, format!("constraint `{k}` on `{name}` is declared `{what}`, but the migrations make it `{g}`"), HELP_ADD)
            }
            Some(_) => {}
        }
    }
    for (k, what) in got.constraints.iter().filter(|(k, _)| !want.constraints.contains_key(*k)) {
        push(
            None,
            format!("constraint `{k}` on `{name}` ({what}) exists after the migrations, but the declared schema does not have it"),
            HELP_DROP,
        );
    }
    for (i, shape) in &want.indexes {
        let span = spans.indexes.get(i).or_else(|| spans.indexes.get(&format!("public.{i}")));
        match got.indexes.get(i) {
            None => push(span, format!("index `{i}` on `{name}` is declared, but the migrations do not create it"), HELP_ADD),
            Some(g) if g != shape => {
                push(span, format!("index `{i}` on `{name}` is declared on other columns than the migrations give"), HELP_ADD)
            }
            Some(_) => {}
        }
    }
    for i in got.indexes.keys().filter(|i| !want.indexes.contains_key(*i)) {
        push(None, format!("index `{i}` on `{name}` exists after the migrations, but the declared schema does not have it"), HELP_DROP);
    }
}

/// The revision file and statement that created table `name`, when known.
fn created_at(name: &str, ordinal: u32, revs: &[LoadedRevision], parsed: &[Parsedrev], order: &[usize]) -> (Option<FileId>, Range<usize>) {
    let Some(&r) = order.get(ordinal as usize) else { return (None, 0..0) };
    let section = &parsed[r].upgrade;
    let span = section
        .parsed
        .stmts
        .iter()
        .find(|st| {
            matches!(&st.op, Op::CreateTable(ct) if norm(&ct.table.key()) == name)
                || matches!(&st.op, Op::CreateTableAs(t) if norm(&t.key()) == name)
        })
        .map_or(0..0, |st| section.start + st.span.start..section.start + st.span.end);
    (Some(revs[r].file), span)
}

#[cfg(test)]
mod tests {
    use super::norm_default;

    #[test]
    fn casts_are_not_part_of_a_default() {
        assert_eq!(norm_default("'free' :: character varying"), "'free'");
        assert_eq!(norm_default("'free' : : character varying"), "'free'");
        assert_eq!(norm_default("'{}' :: jsonb"), "'{}'");
        assert_eq!(norm_default("now ( )"), "now ( )");
        assert_eq!(norm_default("'a' :: varchar ( 3 )"), "'a'");
        assert_eq!(norm_default("0"), "0");
    }
}
