//! Property tests over random revision graphs: branches, merges, several
//! labelled bases and depends_on, in a random load order.

use kiln_core::{Direction, Graph, NodeSpec, VersionOp};
use proptest::prelude::*;

/// One revision of a generated graph: how many parents, which ones (as
/// fractions of the revisions before it), whether it starts a new base, and
/// whether it depends on an earlier revision.
#[derive(Clone, Debug)]
struct Gene {
    kind: u8,
    a: u16,
    b: u16,
    id_salt: u32,
}

fn genes() -> impl Strategy<Value = Vec<Gene>> {
    prop::collection::vec((0u8..20, any::<u16>(), any::<u16>(), any::<u32>()), 1..40)
        .prop_map(|v| v.into_iter().map(|(kind, a, b, id_salt)| Gene { kind, a, b, id_salt }).collect())
}

/// Builds specs in creation order (parents before children); ids are random,
/// so the load order (ids sorted) is unrelated to the creation order.
fn graph_specs(genes: &[Gene], with_deps: bool) -> Vec<NodeSpec> {
    let mut specs: Vec<NodeSpec> = Vec::new();
    for (i, g) in genes.iter().enumerate() {
        let id = format!("{:08x}{:04x}", g.id_salt, i);
        let mut spec = NodeSpec { id, ..NodeSpec::default() };
        if i > 0 {
            let pa = g.a as usize % i;
            let pb = g.b as usize % i;
            match g.kind {
                // A new labelled base.
                0 => spec.branch_labels = vec![format!("l{i}")],
                // A merge of two earlier revisions.
                1..=3 if pa != pb => spec.down_revisions = vec![specs[pa].id.clone(), specs[pb].id.clone()],
                // A dependency on an earlier revision besides the parent.
                4 if with_deps && pa != pb => {
                    spec.down_revisions = vec![specs[pa].id.clone()];
                    spec.depends_on = vec![specs[pb].id.clone()];
                }
                _ => spec.down_revisions = vec![specs[pa].id.clone()],
            }
        }
        specs.push(spec);
    }
    specs.sort_by(|x, y| x.id.cmp(&y.id));
    specs
}

fn ancestors_down(g: &Graph, rev: usize) -> Vec<usize> {
    let mut seen = vec![false; g.len()];
    let mut stack = vec![rev];
    while let Some(r) = stack.pop() {
        if !std::mem::replace(&mut seen[r], true) {
            stack.extend_from_slice(g.parents(r));
            stack.extend_from_slice(g.dependencies(r));
        }
    }
    (0..g.len()).filter(|&r| seen[r] && r != rev).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn upgrading_to_heads_runs_every_revision_once_after_its_parents(genes in genes(), with_deps in any::<bool>()) {
        let g = Graph::build(&graph_specs(&genes, with_deps)).unwrap();
        let plan = g.plan_upgrade(&[], "heads").unwrap();
        let mut position = vec![usize::MAX; g.len()];
        for (i, step) in plan.steps.iter().enumerate() {
            prop_assert_eq!(step.direction, Direction::Up);
            prop_assert_eq!(position[step.revision], usize::MAX, "revision runs twice");
            position[step.revision] = i;
        }
        for r in 0..g.len() {
            prop_assert!(position[r] != usize::MAX, "revision {} never runs", g.id(r));
            for &p in g.parents(r).iter().chain(g.dependencies(r)) {
                prop_assert!(position[p] < position[r], "{} runs before its parent {}", g.id(r), g.id(p));
            }
        }
        // The history order lists every revision, each before its parents.
        let history = g.history_order();
        prop_assert_eq!(history.len(), g.len());
        let mut seen = vec![false; g.len()];
        for &r in history.iter().rev() {
            for &p in g.parents(r) {
                prop_assert!(seen[p]);
            }
            seen[r] = true;
        }
    }

    #[test]
    fn up_to_a_revision_then_down_to_base_is_the_same_walk_reversed(genes in genes(), pick in any::<u16>()) {
        let g = Graph::build(&graph_specs(&genes, false)).unwrap();
        let target = pick as usize % g.len();
        let up = g.plan_upgrade(&[], g.id(target)).unwrap();
        let up_order: Vec<usize> = up.steps.iter().map(|s| s.revision).collect();
        // Exactly the target and its ancestors run, ending with the target alone in the table.
        let mut expected = ancestors_down(&g, target);
        expected.push(target);
        expected.sort_unstable();
        let mut sorted = up_order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, expected);
        prop_assert_eq!(&up.heads_after, &vec![g.id(target).to_string()]);
        let down = g.plan_downgrade(&up.heads_after, "base").unwrap();
        let mut down_order: Vec<usize> = down.steps.iter().map(|s| s.revision).collect();
        down_order.reverse();
        prop_assert_eq!(down_order, up_order);
        prop_assert!(down.heads_after.is_empty());
    }

    #[test]
    fn version_rows_are_always_the_tips_of_what_is_applied(genes in genes(), pick in any::<u16>()) {
        let g = Graph::build(&graph_specs(&genes, false)).unwrap();
        let plan = g.plan_upgrade(&[], "heads").unwrap();
        let mut applied = vec![false; g.len()];
        let mut rows: std::collections::BTreeSet<String> = Default::default();
        for step in &plan.steps {
            applied[step.revision] = true;
            for op in &step.version_ops {
                match op {
                    VersionOp::Insert(id) => prop_assert!(rows.insert(id.clone())),
                    VersionOp::Delete(id) => prop_assert!(rows.remove(id)),
                    VersionOp::Update(a, b) => prop_assert!(rows.remove(a) && rows.insert(b.clone())),
                }
            }
            // Rows = applied revisions with no applied child.
            let tips: std::collections::BTreeSet<String> = (0..g.len())
                .filter(|&r| applied[r] && !g.children(r).iter().any(|&c| applied[c]))
                .map(|r| g.id(r).to_string())
                .collect();
            prop_assert_eq!(&rows, &tips);
            prop_assert_eq!(step.heads_after.iter().cloned().collect::<std::collections::BTreeSet<_>>(), tips);
        }
        // Then downgrading one step from a single head removes just that head.
        if g.heads().len() == 1 && !g.is_merge_point(g.heads()[0]) {
            let head = g.heads()[0];
            let down = g.plan_downgrade(&plan.heads_after, "-1").unwrap();
            prop_assert_eq!(down.steps.len(), 1);
            prop_assert_eq!(down.steps[0].revision, head);
        }
        let _ = pick;
    }
}

/// SQL-shaped text: statements, quotes, dollar quotes, comments, function
/// bodies with `BEGIN ATOMIC`, stray semicolons and noise.
fn statements_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("CREATE INDEX CONCURRENTLY ix_t_a ON t (a);".to_string()),
        Just("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;".to_string()),
        Just("DO $$ BEGIN PERFORM 1; END $$;".to_string()),
        Just("SELECT 'a;b', \"q;\", $t$ ; $t$;".to_string()),
        Just("/* x; /* y; */ */".to_string()),
        Just("-- c;\n".to_string()),
        Just("BEGIN; COMMIT;".to_string()),
        Just("VACUUM t;".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        "[ -~é]{0,20}",
    ];
    prop::collection::vec(part, 0..10).prop_map(|p| p.join(" "))
}

/// Text that looks enough like a revision file to reach deep into the parser.
fn revision_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("-- Create things".to_string()),
        Just("--".to_string()),
        Just("-- Revision ID: aaaa00000001".to_string()),
        Just("-- Revises: ".to_string()),
        Just("-- Revises: aaaa00000001, bbbb".to_string()),
        Just("-- Create Date: 2026-11-27 10:00:00".to_string()),
        Just("-- Branch Labels: core".to_string()),
        Just("-- Depends On: core".to_string()),
        Just("-- Transactional: false".to_string()),
        Just("-- Irreversible: true".to_string()),
        Just("-- kiln:upgrade".to_string()),
        Just("-- kiln:downgrade".to_string()),
        Just("-- kiln:other".to_string()),
        Just("".to_string()),
        Just("SELECT 1;".to_string()),
        Just("\u{feff}".to_string()),
        "[ -~é\u{1F600}\t]{0,30}",
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join(if lines.len() % 2 == 0 { "\n" } else { "\r\n" }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Malformed input gets diagnostics, never a panic, and every diagnostic renders.
    #[test]
    fn the_parser_and_validation_never_panic(texts in prop::collection::vec(revision_like(), 1..4), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut files: Vec<kiln_core::validate::InputFile> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| kiln_core::validate::InputFile {
                name: format!("aaaa0000000{i}_step.sql"),
                bytes: t.clone().into_bytes(),
                path: None,
                is_dir: false,
            })
            .collect();
        files.push(kiln_core::validate::InputFile { name: "bbbb_raw.sql".into(), bytes: raw, path: None, is_dir: false });
        match kiln_core::validate::check_files(files, "m") {
            Ok(set) => prop_assert!(!set.report.has_errors()),
            Err(report) => {
                prop_assert!(report.has_errors());
                let text = report.render();
                prop_assert!(text.contains("error[kiln::"));
            }
        }
    }

    /// The statements a non-transactional revision sends are the parser's:
    /// whatever the SQL (valid or not, with or without a BOM, with the lint
    /// pass on or off), the embedded ranges are the parser's statement spans
    /// shifted into the file, ordered, on char boundaries.
    #[test]
    fn embedded_statements_are_the_parsers(sql in statements_like(), bom in any::<bool>(), lint in any::<bool>()) {
        let header = "-- Step\n--\n-- Revision ID: aaaa00000001\n-- Revises: \n-- Create Date: 2026-11-27 10:00:00\n-- Transactional: false\n-- Irreversible: true\n\n-- kiln:upgrade\n";
        let text = format!("{}{header}{sql}\n", if bom { "\u{feff}" } else { "" });
        let file = kiln_core::validate::InputFile { name: "aaaa00000001_step.sql".into(), bytes: text.clone().into_bytes(), path: None, is_dir: false };
        // With the lint pass on, SQL that does not parse is refused; off, it loads.
        let Ok(set) = kiln_core::validate::check_files_with(vec![file], "m", |c| c.lint = lint) else { return Ok(()) };
        let migrations = set.leak();
        let rev = &migrations.revisions()[0];
        let start = rev.upgrade.0;
        let expected: Vec<(usize, usize)> =
            kiln_core::lint::sql::parse(rev.upgrade_sql()).stmts.iter().map(|s| (s.span.start + start, s.span.start + start + crate::pg::trimmed(&rev.source[s.span.start + start..s.span.end + start]))).collect();
        let got: Vec<(usize, usize)> = rev.upgrade_statements.iter().map(|s| (s.start, s.end)).collect();
        prop_assert_eq!(&got, &expected);
        let mut end = 0;
        for (a, b) in got {
            prop_assert!(a >= end && a <= b && b <= rev.source.len());
            prop_assert!(rev.source.is_char_boundary(a) && rev.source.is_char_boundary(b));
            end = b;
        }
    }
}

/// A random schema change and its exact inverse, as one linear chain of
/// revisions: `(upgrade, downgrade)` pairs whose names follow the conventions.
fn ddl_chain(ops: &[(u8, u16)]) -> Vec<(String, String)> {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    let mut out = Vec::new();
    for (n, &(kind, pick)) in ops.iter().enumerate() {
        let step = if tables.is_empty() { 0 } else { kind % 5 };
        match step {
            0 => {
                let t = format!("items_{n}");
                out.push((
                    format!("CREATE TABLE {t} (id VARCHAR(26) NOT NULL, label VARCHAR(40), CONSTRAINT pk_{t} PRIMARY KEY (id));"),
                    format!("DROP TABLE {t};"),
                ));
                tables.push((t, vec!["id".into(), "label".into()]));
            }
            1 => {
                let k = pick as usize % tables.len();
                let (t, cols) = &mut tables[k];
                let c = format!("c{n}");
                out.push((
                    format!("ALTER TABLE {t} ADD COLUMN {c} VARCHAR(10) NOT NULL DEFAULT 'x';"),
                    format!("ALTER TABLE {t} DROP COLUMN {c};"),
                ));
                cols.push(c);
            }
            2 => {
                let (t, cols) = &tables[pick as usize % tables.len()];
                let c = &cols[pick as usize % cols.len()];
                out.push((format!("CREATE INDEX ix_{t}_{c}_{n} ON {t} ({c});"), format!("DROP INDEX ix_{t}_{c}_{n};")));
            }
            3 => {
                let (t, cols) = &tables[pick as usize % tables.len()];
                let c = &cols[pick as usize % cols.len()];
                out.push((
                    format!("ALTER TABLE {t} ADD CONSTRAINT uq_{t}_{c}_{n} UNIQUE ({c});"),
                    format!("ALTER TABLE {t} DROP CONSTRAINT uq_{t}_{c}_{n};"),
                ));
            }
            _ => {
                // `label` is the one column created without a default.
                let (t, _) = &tables[pick as usize % tables.len()];
                out.push((
                    format!("ALTER TABLE {t} ALTER COLUMN label SET DEFAULT 'y';"),
                    format!("ALTER TABLE {t} ALTER COLUMN label DROP DEFAULT;"),
                ));
            }
        }
    }
    // A column default set twice would make the second inverse wrong; keep
    // the first of each.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(up, _)| !up.contains("SET DEFAULT") || seen.insert(up.clone()));
    out
}

/// A linear chain of revisions with these `(upgrade, downgrade)` sections,
/// validated and linted: the report, whether or not it has errors.
fn lint_chain(chain: &[(String, String)]) -> kiln_core::Report {
    let files: Vec<kiln_core::validate::InputFile> = chain
        .iter()
        .enumerate()
        .map(|(i, (up, down))| {
            let revises = if i == 0 { String::new() } else { format!("r{:04}", i - 1) };
            let text = format!(
                "-- step\n--\n-- Revision ID: r{i:04}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00\n\n-- kiln:upgrade\n{up}\n\n-- kiln:downgrade\n{down}\n"
            );
            kiln_core::validate::InputFile { name: format!("r{i:04}_step.sql"), bytes: text.into_bytes(), path: None, is_dir: false }
        })
        .collect();
    match kiln_core::validate::check_files(files, "m") {
        Ok(set) => set.report,
        Err(r) => r,
    }
}

fn reversible_findings(chain: &[(String, String)]) -> Vec<String> {
    lint_chain(chain).diagnostics.iter().filter(|d| d.code == "reversible").map(|d| d.message.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Exact inverses are never reported; dropping one revision's downgrade
    /// is always reported, against that revision.
    #[test]
    fn the_reversibility_check_finds_exactly_the_missing_inverse(ops in prop::collection::vec((any::<u8>(), any::<u16>()), 1..30), victim in any::<u16>()) {
        let mut chain = ddl_chain(&ops);
        prop_assert_eq!(reversible_findings(&chain), Vec::<String>::new());
        let v = victim as usize % chain.len();
        chain[v].1 = "SELECT 1;".into();
        let found = reversible_findings(&chain);
        prop_assert_eq!(found.len(), 1, "{:?}", found);
        prop_assert!(found[0].contains(&format!("`r{v:04}`")), "{:?}", found);
    }
}

/// SQL-shaped noise: real DDL fragments, names, punctuation and garbage in
/// random order, so that the parser recovers from every kind of broken
/// statement and the model sees half-built ones.
fn sql_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("CREATE TABLE".to_string()),
        Just("ALTER TABLE".to_string()),
        Just("DROP TABLE".to_string()),
        Just("CREATE INDEX".to_string()),
        Just("CREATE UNIQUE INDEX CONCURRENTLY".to_string()),
        Just("DROP INDEX".to_string()),
        Just("ADD COLUMN".to_string()),
        Just("DROP COLUMN".to_string()),
        Just("ALTER COLUMN x TYPE".to_string()),
        Just("RENAME TO".to_string()),
        Just("RENAME COLUMN a TO".to_string()),
        Just("ADD CONSTRAINT".to_string()),
        Just("FOREIGN KEY (a) REFERENCES".to_string()),
        Just("PRIMARY KEY".to_string()),
        Just("UNIQUE (a, b)".to_string()),
        Just("NOT NULL DEFAULT random()".to_string()),
        Just("VARCHAR(26)".to_string()),
        Just("timestamp".to_string()),
        Just("ON".to_string()),
        Just("users".to_string()),
        Just("\"Odd Name\"".to_string()),
        Just("s.t".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just("$$".to_string()),
        Just("DO $$ BEGIN END $$;".to_string()),
        Just("INSERT INTO users VALUES (1);".to_string()),
        Just("-- kiln:allow(table-name, nope)".to_string()),
        Just("'".to_string()),
        "[a-z_]{1,8}",
        "[ -~é]{0,12}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The linter never panics, whatever the SQL, and every finding renders
    /// with a position inside its file.
    #[test]
    fn the_linter_never_panics_on_broken_sql(sections in prop::collection::vec((sql_like(), sql_like()), 1..5)) {
        let report = lint_chain(&sections);
        for d in &report.diagnostics {
            let text = d.render(&report.sources);
            prop_assert!(text.contains("[kiln::"), "{}", text);
            if let Some(loc) = &d.location {
                prop_assert!(loc.span.end <= report.sources.get(loc.file).map_or(0, |f| f.text.len()), "{}", text);
            }
        }
    }
}

/// Hostile SQL (thousands of levels of parentheses, a flat chain of 40,000
/// operators, both mixed) gets the `sql-too-complex` diagnostic with its
/// file and line, never a stack overflow or minutes of parsing.
#[test]
fn deeply_nested_sql_is_a_diagnostic_not_an_abort() {
    let header = "-- Deep\n--\n-- Revision ID: aaaa00000001\n-- Revises: \n-- Create Date: 2026-12-01 10:00:00\n-- Irreversible: true\n\n-- kiln:upgrade\n";
    for sql in [
        format!("SELECT {}1{};", "(".repeat(20_000), ")".repeat(20_000)),
        format!("SELECT 1{};", "+1".repeat(40_000)),
        format!("SELECT {}1{};", "(1 + ".repeat(5_000), ")".repeat(5_000)),
        format!("SELECT {}true;", "NOT ".repeat(10_000)),
    ] {
        let file = kiln_core::validate::InputFile {
            name: "aaaa00000001_deep.sql".into(),
            bytes: format!("{header}{sql}\n").into_bytes(),
            path: None,
            is_dir: false,
        };
        let report = match kiln_core::validate::check_files(vec![file], "migrations") {
            Ok(set) => set.report,
            Err(report) => report,
        };
        let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["sql-too-complex"], "{}", &sql[..40]);
        assert!(report.render().contains("migrations/aaaa00000001_deep.sql:9:"), "{}", &sql[..40]);
    }
}
