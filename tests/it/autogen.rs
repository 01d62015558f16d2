//! `kiln revision --autogenerate` against PostgreSQL, on random schema
//! pairs: from a schema A (the migrations) to a schema B (the declared
//! schema), the generated revisions pass the build, take a database at A
//! to a catalog equal to B's written out as DDL, and their downgrades take
//! it back to A's. Column order aside: PostgreSQL adds a column last.
//!
//! `KILN_AUTOGEN_CASES=500 cargo test --all-features --test it autogen` runs more
//! cases than CI's; `KILN_AUTOGEN_SEED` replays one.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::pg::{client, fresh_db, load};

/// xorshift64*: small, seeded, enough to draw schemas.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Debug)]
struct Col {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    cols: Vec<Col>,
    /// Unique constraints and plain indexes on one column each, checks on one column.
    uniques: Vec<String>,
    indexes: Vec<String>,
    checks: Vec<String>,
    /// `(column, referenced table)`.
    fks: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
struct Schema {
    enums: Vec<(String, Vec<String>)>,
    tables: Vec<Table>,
    /// Standalone sequences and SQL functions, by name.
    sequences: Vec<String>,
    functions: Vec<String>,
    /// Views over one table's ids: `<table>_ids`.
    views: Vec<String>,
}

const TABLES: &[&str] = &["users", "teams", "projects", "api_keys", "events", "invoices", "tags", "notes"];
const COLUMNS: &[&str] = &["email", "name", "age", "score", "active", "created_at", "payload", "status", "note", "amount", "title"];
const TYPES: &[&str] = &["varchar(64)", "text", "integer", "bigint", "boolean", "timestamptz", "jsonb", "numeric(10,2)"];
const ENUMS: &[&str] = &["moods", "levels", "colours"];
const SEQUENCES: &[&str] = &["invoice_numbers", "ticket_numbers"];
const FUNCTIONS: &[&str] = &["answer", "version_number"];
const VALUES: &[&str] = &["red", "green", "blue", "low", "high", "mid", "happy", "sad", "calm"];

fn singular(table: &str) -> String {
    table.strip_suffix('s').unwrap_or(table).to_string()
}

/// Types a column can change between, both ways, on an empty table.
fn changed_type(ty: &str) -> Option<&'static str> {
    match ty {
        "integer" => Some("bigint"),
        "bigint" => Some("integer"),
        "varchar(64)" => Some("text"),
        "text" => Some("varchar(64)"),
        "numeric(10,2)" => Some("numeric(12,2)"),
        "numeric(12,2)" => Some("numeric(10,2)"),
        _ => None,
    }
}

fn default_for(ty: &str, enums: &[(String, Vec<String>)], rng: &mut Rng) -> String {
    match ty {
        "integer" | "bigint" => format!("{}", rng.below(100)),
        "numeric(10,2)" | "numeric(12,2)" => "1.5".into(),
        "varchar(64)" | "text" => format!("'{}'", rng.pick(VALUES)),
        "boolean" => rng.pick(&["true", "false"]).to_string(),
        "timestamptz" => "now()".into(),
        "jsonb" => "'{}'::jsonb".into(),
        e => {
            let values = &enums.iter().find(|(n, _)| n == e).expect("an enum").1;
            format!("'{}'", rng.pick(values))
        }
    }
}

fn new_column(name: &str, schema: &Schema, rng: &mut Rng) -> Col {
    let mut types: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
    types.extend(schema.enums.iter().map(|(n, _)| n.clone()));
    let ty = rng.pick(&types).clone();
    let default = rng.chance(40).then(|| default_for(&ty, &schema.enums, rng));
    Col { name: name.into(), ty, not_null: rng.chance(40), default }
}

fn new_table(name: &str, schema: &Schema, rng: &mut Rng) -> Table {
    let mut t = Table { name: name.into(), cols: Vec::new(), uniques: vec![], indexes: vec![], checks: vec![], fks: vec![] };
    for _ in 0..1 + rng.below(4) {
        let c = *rng.pick(COLUMNS);
        if t.cols.iter().all(|x| x.name != c) {
            t.cols.push(new_column(c, schema, rng));
        }
    }
    t
}

fn random_schema(rng: &mut Rng) -> Schema {
    let mut s = Schema::default();
    for e in ENUMS.iter().take(rng.below(3)) {
        let mut values: Vec<String> = Vec::new();
        for _ in 0..2 + rng.below(2) {
            let v = rng.pick(VALUES).to_string();
            if !values.contains(&v) {
                values.push(v);
            }
        }
        s.enums.push((e.to_string(), values));
    }
    for name in TABLES.iter().take(1 + rng.below(4)) {
        let t = new_table(name, &s, rng);
        s.tables.push(t);
    }
    for i in 0..s.tables.len() {
        decorate(&mut s, i, rng);
    }
    objects(&mut s, rng);
    s
}

/// A sequence, a function or a view added at random.
fn objects(s: &mut Schema, rng: &mut Rng) {
    if rng.chance(30) {
        let q = rng.pick(SEQUENCES).to_string();
        if !s.sequences.contains(&q) {
            s.sequences.push(q);
        }
    }
    if rng.chance(30) {
        let f = rng.pick(FUNCTIONS).to_string();
        if !s.functions.contains(&f) {
            s.functions.push(f);
        }
    }
    if rng.chance(30) && !s.tables.is_empty() {
        let t = s.tables[rng.below(s.tables.len())].name.clone();
        if !s.views.contains(&t) {
            s.views.push(t);
        }
    }
}

/// Adds constraints and indexes to table `i` at random.
fn decorate(s: &mut Schema, i: usize, rng: &mut Rng) {
    let others: Vec<String> = s.tables.iter().map(|t| t.name.clone()).filter(|n| *n != s.tables[i].name).collect();
    let t = &mut s.tables[i];
    let cols: Vec<Col> = t.cols.clone();
    for c in &cols {
        if rng.chance(20) && !t.uniques.contains(&c.name) && c.ty != "jsonb" {
            t.uniques.push(c.name.clone());
        } else if rng.chance(25) && !t.indexes.contains(&c.name) {
            t.indexes.push(c.name.clone());
        } else if rng.chance(15) && matches!(c.ty.as_str(), "integer" | "bigint") && !t.checks.contains(&c.name) {
            t.checks.push(c.name.clone());
        }
    }
    if !others.is_empty() && rng.chance(40) {
        let to = rng.pick(&others).clone();
        let col = format!("{}_id", singular(&to));
        if t.cols.iter().all(|c| c.name != col) {
            t.cols.push(Col { name: col.clone(), ty: "varchar(26)".into(), not_null: rng.chance(50), default: None });
            t.fks.push((col, to));
        }
    }
}

/// B from A: a few changes of every kind the generator knows.
fn mutate(a: &Schema, rng: &mut Rng) -> Schema {
    let mut b = a.clone();
    for _ in 0..1 + rng.below(5) {
        let n = b.tables.len();
        match rng.below(16) {
            0 => {
                // A new table.
                if let Some(name) = TABLES.iter().find(|t| b.tables.iter().all(|x| x.name != **t)) {
                    let t = new_table(name, &b, rng);
                    b.tables.push(t);
                    let last = b.tables.len() - 1;
                    decorate(&mut b, last, rng);
                }
            }
            1 if n > 1 => {
                // A table dropped, and what refers to it.
                let gone = b.tables.remove(rng.below(n)).name;
                b.views.retain(|v| *v != gone);
                for t in &mut b.tables {
                    let refs: Vec<String> = t.fks.iter().filter(|(_, to)| *to == gone).map(|(c, _)| c.clone()).collect();
                    t.fks.retain(|(_, to)| *to != gone);
                    t.cols.retain(|c| !refs.contains(&c.name));
                    t.indexes.retain(|c| !refs.contains(c));
                    t.uniques.retain(|c| !refs.contains(c));
                }
            }
            2 if n > 0 => {
                // A column added (last), under a name the table did not have
                // (a column dropped and added again under its name is a type change).
                let i = rng.below(n);
                let c = *rng.pick(COLUMNS);
                let had = a.tables.iter().any(|t| t.name == b.tables[i].name && t.cols.iter().any(|x| x.name == c));
                if !had && b.tables[i].cols.iter().all(|x| x.name != c) {
                    let col = new_column(c, &b, rng);
                    b.tables[i].cols.push(col);
                }
            }
            3 if n > 0 => {
                // A column dropped, wherever it is.
                let t = &mut b.tables[rng.below(n)];
                if !t.cols.is_empty() {
                    let c = t.cols.remove(rng.below(t.cols.len())).name;
                    t.uniques.retain(|x| *x != c);
                    t.indexes.retain(|x| *x != c);
                    t.checks.retain(|x| *x != c);
                    t.fks.retain(|(x, _)| *x != c);
                }
            }
            4 if n > 0 => {
                // A type changed.
                let t = &mut b.tables[rng.below(n)];
                let fk_cols: Vec<String> = t.fks.iter().map(|(c, _)| c.clone()).collect();
                if let Some(c) = t.cols.iter_mut().filter(|c| !fk_cols.contains(&c.name)).find(|c| changed_type(&c.ty).is_some()) {
                    c.ty = changed_type(&c.ty).unwrap().to_string();
                    if c.default.is_some() && !c.ty.starts_with("numeric") {
                        c.default = None;
                    }
                    let name = c.name.clone();
                    if !matches!(c.ty.as_str(), "integer" | "bigint") {
                        t.checks.retain(|x| *x != name);
                    }
                }
            }
            5 if n > 0 => {
                // Nullability flipped.
                let t = &mut b.tables[rng.below(n)];
                if !t.cols.is_empty() {
                    let i = rng.below(t.cols.len());
                    t.cols[i].not_null = !t.cols[i].not_null;
                }
            }
            6 if n > 0 => {
                // A default set, changed or dropped.
                let enums = b.enums.clone();
                let t = &mut b.tables[rng.below(n)];
                if !t.cols.is_empty() {
                    let i = rng.below(t.cols.len());
                    let c = &mut t.cols[i];
                    c.default = if c.default.is_some() && rng.chance(50) || c.ty == "varchar(26)" {
                        None
                    } else {
                        Some(default_for(&c.ty.clone(), &enums, rng))
                    };
                }
            }
            7 if n > 0 => {
                // Constraints and indexes added.
                let i = rng.below(n);
                decorate(&mut b, i, rng);
            }
            8 if n > 0 => {
                // A unique constraint, index or check dropped.
                let t = &mut b.tables[rng.below(n)];
                match rng.below(3) {
                    0 => drop_one(&mut t.uniques, rng),
                    1 => drop_one(&mut t.indexes, rng),
                    _ => drop_one(&mut t.checks, rng),
                }
            }
            9 if n > 0 => {
                // A foreign key dropped (its column stays).
                let t = &mut b.tables[rng.below(n)];
                if !t.fks.is_empty() {
                    let i = rng.below(t.fks.len());
                    t.fks.remove(i);
                }
            }
            10 if !b.enums.is_empty() => {
                // Enum values added, anywhere.
                let i = rng.below(b.enums.len());
                let v = rng.pick(VALUES).to_string();
                let values = &mut b.enums[i].1;
                if !values.contains(&v) {
                    let at = rng.below(values.len() + 1);
                    values.insert(at, v);
                }
            }
            11 => {
                // A new enum.
                if let Some(e) = ENUMS.iter().find(|e| b.enums.iter().all(|(n, _)| n != *e)) {
                    b.enums.push((e.to_string(), vec!["on".into(), "off".into()]));
                }
            }
            13 => objects(&mut b, rng),
            15 if !b.enums.is_empty() => {
                // An enum value removed (none of the declared defaults uses it), or two swapped.
                let i = rng.below(b.enums.len());
                let (name, values) = b.enums[i].clone();
                let j = rng.below(values.len());
                let used = b
                    .tables
                    .iter()
                    .flat_map(|t| &t.cols)
                    .any(|c| c.ty == name && c.default.as_deref() == Some(&format!("'{}'", values[j])));
                if rng.chance(50) && values.len() > 1 && !used {
                    b.enums[i].1.remove(j);
                } else if values.len() > 1 {
                    b.enums[i].1.swap(0, values.len() - 1);
                }
            }
            14 => {
                // An object dropped.
                match rng.below(3) {
                    0 => drop_one(&mut b.sequences, rng),
                    1 => drop_one(&mut b.functions, rng),
                    _ => drop_one(&mut b.views, rng),
                }
            }
            12 if !b.enums.is_empty() => {
                // An enum no column uses, dropped.
                let i = rng.below(b.enums.len());
                let name = b.enums[i].0.clone();
                if b.tables.iter().all(|t| t.cols.iter().all(|c| c.ty != name)) {
                    b.enums.remove(i);
                }
            }
            _ => {}
        }
    }
    b
}

fn drop_one(items: &mut Vec<String>, rng: &mut Rng) {
    if !items.is_empty() {
        let i = rng.below(items.len());
        items.remove(i);
    }
}

/// The schema as DDL, every name written the way the lint rules want it.
fn ddl(s: &Schema) -> String {
    let mut out = String::new();
    for (name, values) in &s.enums {
        let values: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        let _ = writeln!(out, "CREATE TYPE {name} AS ENUM ({});", values.join(", "));
    }
    for t in &s.tables {
        let mut lines = vec!["    id VARCHAR(26) PRIMARY KEY".to_string()];
        for c in &t.cols {
            let mut l = format!("    {} {}", c.name, c.ty);
            if c.not_null {
                l.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                let _ = write!(l, " DEFAULT {d}");
            }
            lines.push(l);
        }
        for u in &t.uniques {
            lines.push(format!("    CONSTRAINT uq_{}_{u} UNIQUE ({u})", t.name));
        }
        for c in &t.checks {
            lines.push(format!("    CONSTRAINT ck_{}_{c} CHECK ({c} >= 0)", t.name));
        }
        let _ = writeln!(out, "CREATE TABLE {} (\n{}\n);", t.name, lines.join(",\n"));
        for i in &t.indexes {
            let _ = writeln!(out, "CREATE INDEX ix_{}_{i} ON {} ({i});", t.name, t.name);
        }
    }
    for t in &s.tables {
        for (c, to) in &t.fks {
            let _ = writeln!(out, "ALTER TABLE {} ADD CONSTRAINT fk_{}_{c}_{to} FOREIGN KEY ({c}) REFERENCES {to} (id);", t.name, t.name);
        }
    }
    for q in &s.sequences {
        let _ = writeln!(out, "CREATE SEQUENCE {q} START 100;");
    }
    for f in &s.functions {
        let _ = writeln!(out, "CREATE FUNCTION {f}() RETURNS integer LANGUAGE sql AS $$ SELECT 42 $$;");
    }
    for v in &s.views {
        let _ = writeln!(out, "CREATE VIEW {v}_ids AS SELECT id FROM {v};");
    }
    out
}

/// What undoes [`ddl`]: the views, functions and sequences, the tables, then the types.
fn drop_ddl(s: &Schema) -> String {
    let mut out = String::new();
    for v in &s.views {
        let _ = writeln!(out, "DROP VIEW {v}_ids;");
    }
    for f in &s.functions {
        let _ = writeln!(out, "DROP FUNCTION {f};");
    }
    for q in &s.sequences {
        let _ = writeln!(out, "DROP SEQUENCE {q};");
    }
    if !s.tables.is_empty() {
        let names: Vec<&str> = s.tables.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(out, "DROP TABLE {};", names.join(", "));
    }
    for (name, _) in &s.enums {
        let _ = writeln!(out, "DROP TYPE {name};");
    }
    out
}

fn snapshot(url: &str) -> kiln::catalog::Snapshot {
    kiln::catalog::Snapshot::of(&mut client(url), &kiln::Tables::default()).unwrap().without_column_order()
}

fn database_with(sql: &str) -> String {
    let url = fresh_db();
    client(&url).batch_execute(sql).unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
    url
}

/// What the generated revisions hold, counted over the cases: evidence
/// that the cases reach each kind of change.
const KINDS: &[&str] = &[
    "CREATE TABLE",
    "DROP TABLE",
    "ADD COLUMN",
    "DROP COLUMN",
    " TYPE ",
    "SET DEFAULT",
    "SET NOT NULL",
    "DROP NOT NULL",
    "ADD CONSTRAINT",
    "DROP CONSTRAINT",
    "NOT VALID",
    "INDEX CONCURRENTLY",
    "ADD VALUE",
    "_kiln_old",
    "CREATE TYPE",
    "SEQUENCE",
    "FUNCTION",
    "VIEW",
    "kiln:allow(reversible)",
];

/// One case: `Err` with what went wrong, the schemas and the revisions.
/// `seen` counts the cases whose revisions hold each of [`KINDS`].
fn case(seed: u64, seen: &mut [usize]) -> Result<(), String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let a = random_schema(&mut rng);
    let b = mutate(&a, &mut rng);
    let (a_sql, b_sql) = (ddl(&a), ddl(&b));
    let dir = crate::pg::write_dir(
        &format!("autogen-{seed}"),
        &[crate::pg::revision("a1", &[], "", &a_sql, Some(&drop_ddl(&a)))],
        Some("schema = \"schema.sql\"\n"),
    );
    std::fs::write(dir.join("schema.sql"), &b_sql).unwrap();
    let context = |what: String, dir: &Path| {
        let mut files = String::new();
        for p in generated_files(dir) {
            let _ = write!(files, "\n== {}\n{}", p.file_name().unwrap().to_string_lossy(), std::fs::read_to_string(&p).unwrap());
        }
        format!("seed {seed}: {what}\n== A\n{a_sql}\n== B\n{b_sql}{files}")
    };
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--dir", dir.to_str().unwrap(), "revision", "--autogenerate", "-m", "to b"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(context(format!("autogenerate failed:\n{said}"), &dir));
    }
    let generated = written(&dir);
    for (n, kind) in seen.iter_mut().zip(KINDS) {
        *n += usize::from(generated.contains(kind));
    }
    // The build's view: every lint, the declared schema included.
    if let Err(r) = kiln_core::load_dir(&dir, "migrations") {
        return Err(context(format!("the generated revisions do not pass the build:\n{}", r.render()), &dir));
    }
    let migrations = load(&dir);
    // The round trip of `kiln::testing`, which compares column order too:
    // where no column is put back elsewhere on the way down.
    if !generated.contains("kiln:allow(reversible)") {
        kiln::testing::RoundTrip::new(&migrations).run().map_err(|f| context(format!("the round trip fails: {f}"), &dir))?;
    }
    let migrator = kiln::Migrator::new(migrations);
    let db = fresh_db();
    let mut c = client(&db);
    migrator.upgrade(&mut c, "heads").map_err(|e| context(format!("upgrade failed: {e}"), &dir))?;
    if let Some(d) = snapshot(&db).diff(&snapshot(&database_with(&b_sql)), 20) {
        return Err(context(format!("after the upgrade the catalog is not B's (- upgraded, + B):\n{d}"), &dir));
    }
    migrator.downgrade(&mut c, "a1").map_err(|e| context(format!("downgrade failed: {e}"), &dir))?;
    if let Some(d) = snapshot(&db).diff(&snapshot(&database_with(&a_sql)), 20) {
        return Err(context(format!("after the downgrade the catalog is not A's (- downgraded, + A):\n{d}"), &dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn autogenerated_revisions_take_a_to_b_and_back_on_postgresql() {
    let cases: u64 = std::env::var("KILN_AUTOGEN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let seeds: Vec<u64> = match std::env::var("KILN_AUTOGEN_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=cases).collect(),
    };
    let mut seen = vec![0; KINDS.len()];
    let failures: Vec<String> = seeds.iter().filter_map(|&s| case(s, &mut seen).err()).collect();
    eprintln!("autogenerate on PostgreSQL: {} cases, {} failures", seeds.len(), failures.len());
    let counts: Vec<String> = KINDS.iter().zip(&seen).map(|(k, n)| format!("{}: {n}", k.trim())).collect();
    eprintln!("cases whose revisions hold each kind of change: {}", counts.join(", "));
    for f in &failures {
        eprintln!("  {}", f.lines().next().unwrap_or_default());
    }
    assert!(failures.is_empty(), "{} of {} cases failed; the first:\n{}", failures.len(), seeds.len(), failures[0]);
}

/// A migrations directory with one revision and a declared schema.
fn project(name: &str, up: &str, down: &str, schema: &str) -> std::path::PathBuf {
    let dir = crate::pg::write_dir(name, &[crate::pg::revision("a1", &[], "", up, Some(down))], Some("schema = \"schema.sql\"\n"));
    std::fs::write(dir.join("schema.sql"), schema).unwrap();
    dir
}

fn autogenerate(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["--dir", dir.to_str().unwrap(), "revision", "--autogenerate", "-m", "catch up"];
    args.extend(extra);
    let out = crate::cli::kiln(&args);
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The files autogenerate wrote (every revision but `a1`), by name.
fn generated_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.retain(|p| p.extension().is_some_and(|e| e == "sql") && !p.ends_with("schema.sql") && !p.ends_with("a1_m.sql"));
    files
}

/// The revisions autogenerate wrote, as one text.
fn written(dir: &Path) -> String {
    generated_files(dir).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

fn remove_written(dir: &Path) {
    for p in generated_files(dir) {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn a_rename_is_asked_for_never_guessed_and_keeps_the_rows() {
    let dir = project(
        "autogen-rename",
        "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, name TEXT, email TEXT NOT NULL);",
        "DROP TABLE users;",
        "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, full_name TEXT, email VARCHAR(320) NOT NULL, \
         plan VARCHAR(32) NOT NULL, signed_up_at TIMESTAMPTZ NOT NULL, CONSTRAINT uq_users_email UNIQUE (email));",
    );
    // Unasked: a drop and an add, and the author told how to ask (the one
    // text column dropped and the one added: a pair kiln points out).
    let (code, said) = autogenerate(&dir, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("--rename users.name=full_name"), "{said}");
    let sql = written(&dir);
    assert!(sql.contains("-- review: `users.name` is dropped and `users.full_name` added") && sql.contains("DROP COLUMN name;"), "{sql}");
    remove_written(&dir);

    // Asked: a rename, on a table with rows.
    let (code, said) = autogenerate(&dir, &["--rename", "users.name=full_name"]);
    assert_eq!(code, Some(0), "{said}");
    let sql = written(&dir);
    assert!(sql.contains("ALTER TABLE users RENAME COLUMN name TO full_name;") && !sql.contains("DROP COLUMN name"), "{sql}");
    // The rows there get a value for each new NOT NULL column, then the column has no default, as declared.
    assert!(sql.contains("ADD COLUMN plan varchar(32) DEFAULT '' NOT NULL;\nALTER TABLE users ALTER COLUMN plan DROP DEFAULT;"), "{sql}");
    assert!(sql.contains("ADD COLUMN signed_up_at timestamptz DEFAULT now() NOT NULL;"), "{sql}");
    let check = crate::cli::kiln(&["--dir", dir.to_str().unwrap(), "check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    let migrator = kiln::Migrator::new(load(&dir));
    let db = fresh_db();
    let mut c = client(&db);
    migrator.upgrade(&mut c, "a1").unwrap();
    c.batch_execute("INSERT INTO users VALUES ('01J0000000000000000000000A', 'Ada', 'ada@example.com'), ('01J0000000000000000000000B', 'Grace', 'grace@example.com')").unwrap();
    migrator.upgrade(&mut c, "heads").unwrap();
    let rows: Vec<(String, String)> =
        c.query("SELECT full_name, plan FROM users ORDER BY id", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, [("Ada".to_string(), String::new()), ("Grace".to_string(), String::new())]);
    migrator.downgrade(&mut c, "a1").unwrap();
    let names: Vec<String> = c.query("SELECT name FROM users ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["Ada", "Grace"]);

    // A rename of something the migrations do not have is refused.
    remove_written(&dir);
    let (code, said) = autogenerate(&dir, &["--rename", "users.nickname=full_name"]);
    assert_ne!(code, Some(0));
    assert!(said.contains("no column `nickname`"), "{said}");
    let (code, said) = autogenerate(&dir, &["--rename", "users.name"]);
    assert_ne!(code, Some(0));
    assert!(said.contains("<table>.<column>=<new name>"), "{said}");
}

#[test]
fn nothing_to_write_and_what_stops_autogenerate() {
    let table = "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, email TEXT NOT NULL);";
    // The declared schema is the head, written another way: no revision.
    let dir = project(
        "autogen-none",
        table,
        "DROP TABLE users;",
        "CREATE TABLE public.users (id character varying(26) NOT NULL, email text NOT NULL, PRIMARY KEY (id));",
    );
    let (code, said) = autogenerate(&dir, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("No changes"), "{said}");
    assert!(written(&dir).is_empty());

    // No declared schema.
    let bare = crate::pg::write_dir("autogen-bare", &[crate::pg::revision("a1", &[], "", table, Some("DROP TABLE users;"))], None);
    let (code, said) = autogenerate(&bare, &[]);
    assert_ne!(code, Some(0));
    assert!(said.contains("kiln.toml declares no schema") && said.contains("schema = \"schema.sql\""), "{said}");

    // A statement kiln cannot follow: the difference is not known, so nothing is written.
    let dir = project(
        "autogen-opaque",
        &format!("{table}\nDO $$ BEGIN EXECUTE 'ALTER TABLE users ADD COLUMN x int'; END $$;"),
        "DROP TABLE users;",
        table,
    );
    let (code, said) = autogenerate(&dir, &[]);
    assert_ne!(code, Some(0));
    assert!(said.contains("cannot follow"), "{said}");
    assert!(written(&dir).is_empty());

    // A declared schema that does not parse, named at its line.
    let dir = project("autogen-syntax", table, "DROP TABLE users;", "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY,,);\n");
    let (code, said) = autogenerate(&dir, &[]);
    assert_ne!(code, Some(0));
    assert!(said.contains("the declared schema does not parse") && said.contains("schema.sql:1:"), "{said}");
}

/// From each revision of the reference schema to `pg_dump` of its head: the
/// generated revisions reach the head's catalog, and go back.
#[test]
fn from_any_reference_revision_to_a_dump_of_its_head() {
    use kartograph::MIGRATIONS as REFERENCE;
    use kiln::testing::TestDatabase;
    let head = TestDatabase::migrated(&REFERENCE, "heads");
    let out = Command::new("pg_dump").args(["--schema-only", "--no-owner"]).arg(head.url()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8(out.stdout).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    // Each cut keeps the revisions up to it (the files are named by id).
    let chain = ["1975ea83b712", "7fbe65eaef1b", "3c4d5e6f7a8b", "a1b2c3d4e5f6", "e4f5a6b7c8d9"];
    for (n, cut) in chain.iter().enumerate() {
        let mut files = Vec::new();
        for e in std::fs::read_dir(&root).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if chain[..=n].iter().any(|id| name.starts_with(id)) {
                files.push((name, std::fs::read_to_string(&p).unwrap()));
            }
        }
        let dir = crate::pg::write_dir(&format!("autogen-reference-{cut}"), &files, Some("schema = \"schema.sql\"\n"));
        std::fs::write(dir.join("schema.sql"), &dump).unwrap();
        let (code, said) = autogenerate(&dir, &[]);
        assert_eq!(code, Some(0), "from {cut}: {said}");
        let migrations = load(&dir);
        // The testing issue's round trip: every revision down and up, against the catalog.
        if let Err(f) = kiln::testing::RoundTrip::new(&migrations).run() {
            panic!("from {cut}: the round trip fails: {f}\n{}", written(&dir));
        }
        let migrator = kiln::Migrator::new(migrations);
        let db = fresh_db();
        let mut c = client(&db);
        migrator.upgrade(&mut c, "heads").unwrap_or_else(|e| panic!("from {cut}: {e}\n{}", written(&dir)));
        if let Some(d) = snapshot(&db).diff(&snapshot(head.url()), 20) {
            panic!("from {cut}: the upgraded catalog is not the head's (- upgraded, + head):\n{d}\n{}", written(&dir));
        }
        migrator.downgrade(&mut c, cut).unwrap_or_else(|e| panic!("back to {cut}: {e}\n{}", written(&dir)));
        let at_cut = TestDatabase::migrated(&REFERENCE, cut);
        if let Some(d) = snapshot(&db).diff(&snapshot(at_cut.url()), 20) {
            panic!("back to {cut}: the catalog is not the revision's (- downgraded, + {cut}):\n{d}\n{}", written(&dir));
        }
    }
}

/// The README's autogenerate commands, as written (the comment after each
/// is the shell's), each on a project of its own.
#[test]
fn the_readme_autogenerate_commands_run_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let at = readme.find("### Writing revisions from the declared schema").expect("README.md has the autogenerate section");
    let block = &readme[at..];
    let block = &block[block.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let commands: Vec<&str> = block.lines().map(|l| l.split('#').next().unwrap().trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(commands.len(), 2, "{block}");
    for (i, command) in commands.iter().enumerate() {
        let dir = project(
            &format!("autogen-readme-{i}"),
            "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, name TEXT);",
            "DROP TABLE users;",
            "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, full_name TEXT);\nCREATE TABLE plans (id VARCHAR(26) PRIMARY KEY, price INTEGER NOT NULL);\n",
        );
        let words = shell_words(command);
        assert_eq!(words[0], "kiln");
        let out = Command::new(env!("CARGO_BIN_EXE_kiln")).args(&words[1..]).current_dir(&dir).env_remove("DATABASE_URL").output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{command}: {said}");
        let sql = written(&dir);
        assert!(sql.contains("CREATE TABLE plans"), "{command}: {sql}");
        assert_eq!(sql.contains("RENAME COLUMN name TO full_name"), command.contains("--rename"), "{command}: {sql}");
    }
}

/// A command line's words, `"..."` quoting honoured.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What the schema model does not hold but a new table needs: a schema and
/// an extension the declared schema creates (as `pg_dump` writes them) and
/// no revision does, created first and dropped last.
#[test]
fn schemas_and_extensions_the_migrations_lack_come_first() {
    let schema = "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\nCREATE SCHEMA audit;\n\
                  CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, email citext NOT NULL);\n\
                  CREATE TABLE audit.events (id VARCHAR(26) PRIMARY KEY, user_id VARCHAR(26) NOT NULL \
                  CONSTRAINT fk_events_user_id_users REFERENCES users (id), at TIMESTAMPTZ NOT NULL DEFAULT now());\n";
    let dir = project("autogen-schemas", "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY);", "DROP TABLE users;", schema);
    let (code, said) = autogenerate(&dir, &[]);
    assert_eq!(code, Some(0), "{said}");
    let sql = written(&dir);
    let at = |needle: &str| sql.find(needle).unwrap_or_else(|| panic!("{needle}: {sql}"));
    assert!(
        at("CREATE EXTENSION IF NOT EXISTS citext") < at("CREATE SCHEMA audit")
            && at("CREATE SCHEMA audit") < at("CREATE TABLE audit.events"),
        "{sql}"
    );
    up_to_and_back(&dir, schema, "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY);", "schemas and extensions");
}

/// Functions, views and triggers that depend on one another: created in
/// dependency order, dropped the other way round, both ways.
#[test]
fn dependent_objects_are_created_and_dropped_in_order() {
    let tables = "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, updated_at TIMESTAMPTZ);\n";
    let objects = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;\n\
                   CREATE TRIGGER trg_users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();\n\
                   CREATE VIEW user_ids AS SELECT id FROM users;\n\
                   CREATE MATERIALIZED VIEW user_counts AS SELECT count(*) AS n FROM user_ids;\n";
    let drops = "DROP MATERIALIZED VIEW user_counts;\nDROP VIEW user_ids;\nDROP TRIGGER trg_users_touch ON users;\nDROP FUNCTION touch;\n";
    let with = format!("{tables}{objects}");
    // Added, then taken away.
    for (name, a_up, a_down, b) in [
        ("add", tables.to_string(), "DROP TABLE users;".to_string(), with.clone()),
        ("drop", with.clone(), format!("{drops}DROP TABLE users;"), tables.to_string()),
    ] {
        let dir = project(&format!("autogen-objects-{name}"), &a_up, &a_down, &b);
        let (code, said) = autogenerate(&dir, &[]);
        assert_eq!(code, Some(0), "{name}: {said}");
        up_to_and_back(&dir, &b, &a_up, name);
    }
}

/// A real declared schema: procrastinate 3.10.0's `schema.sql` (enums,
/// PL/pgSQL functions, triggers, partial indexes, a `DO` block), written
/// from nothing by autogenerate. Its names are not Kartograph's, so its
/// team would turn those rules off.
#[test]
fn procrastinates_declared_schema_from_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("tests/data/corpus/procrastinate-declared/schema.sql")).unwrap();
    let dir = project("autogen-procrastinate", "SELECT 1;", "SELECT 1;", &schema);
    std::fs::write(
        dir.join("kiln.toml"),
        "schema = \"schema.sql\"\n\n[lints]\nindex-name = \"allow\"\nunique-name = \"allow\"\nforeign-key-name = \"allow\"\nulid-primary-key = \"allow\"\n",
    )
    .unwrap();
    let (code, said) = autogenerate(&dir, &[]);
    assert_eq!(code, Some(0), "{said}");
    // The DO block is named, not copied.
    assert!(said.contains("the declared schema's statement at line 3 is one kiln cannot follow"), "{said}");
    up_to_and_back(&dir, &schema, "", "procrastinate");
}

/// Upgrades a fresh database with the directory's revisions and compares
/// its catalog with `b` written out; downgrades it to `a1` and compares with
/// `a` (column order aside). Panics with the generated SQL.
fn up_to_and_back(dir: &Path, b: &str, a: &str, what: &str) {
    let sql = written(dir);
    let migrator = kiln::Migrator::new(load(dir));
    let db = fresh_db();
    let mut c = client(&db);
    migrator.upgrade(&mut c, "heads").unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
    if let Some(d) = snapshot(&db).diff(&snapshot(&database_with(b)), 20) {
        panic!("{what}: the upgraded catalog is not the declared schema's (- upgraded, + declared):\n{d}\n{sql}");
    }
    migrator.downgrade(&mut c, "a1").unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
    if let Some(d) = snapshot(&db).diff(&snapshot(&database_with(a)), 20) {
        panic!("{what}: the downgraded catalog is not the one it started from (- downgraded, + before):\n{d}\n{sql}");
    }
}
