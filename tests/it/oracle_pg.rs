//! The recorded Alembic cases applied for real: each case's revisions become
//! SQL files (each creates its own table), and a sample of its successful
//! upgrade and downgrade queries runs against PostgreSQL from the recorded
//! starting rows. The version table, the order of the steps (from the
//! history table) and the tables present must match what Alembic recorded.

use std::collections::BTreeSet;

use kiln::{Command, Migrator};
use serde_json::Value;

use crate::pg::{client, fresh_db, load, revision, write_dir};

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Queries per case, spread over the case's successful plans.
const PER_CASE: usize = 6;

#[test]
fn recorded_alembic_plans_applied_to_postgresql_leave_the_recorded_rows() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/alembic-cases.json")).unwrap();
    let data: Value = serde_json::from_str(&text).unwrap();
    let url = fresh_db();
    let mut c = client(&url);
    let mut checked = 0;
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if case["queries"].as_array().unwrap().iter().any(|q| q["kind"] == "load") {
            continue; // an invalid graph: kiln refuses it at build time
        }
        let files: Vec<(String, String)> = case["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap();
                let down = strings(&r["down_revisions"]);
                let mut extra = String::new();
                let labels = strings(&r["branch_labels"]);
                if !labels.is_empty() {
                    extra.push_str(&format!("-- Branch Labels: {}\n", labels.join(", ")));
                }
                let deps = strings(&r["depends_on"]);
                if !deps.is_empty() {
                    extra.push_str(&format!("-- Depends On: {}\n", deps.join(", ")));
                }
                let down: Vec<&str> = down.iter().map(String::as_str).collect();
                revision(id, &down, &extra, &format!("CREATE TABLE t_{id}_rows (id int);"), Some(&format!("DROP TABLE t_{id}_rows;")))
            })
            .collect();
        let dir = write_dir(&format!("oracle-{name}"), &files, Some("allow_multiple_heads = true\nallow_multiple_bases = true\n"));
        let migrations = load(&dir);
        let m = Migrator::new(migrations);
        let g = m.graph();
        let plans: Vec<&Value> = case["queries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| (q["kind"] == "upgrade" || q["kind"] == "downgrade") && q["expected"].get("steps").is_some())
            .filter(|q| !q["expected"]["steps"].as_array().unwrap().is_empty())
            .collect();
        let stride = (plans.len() / PER_CASE).max(1);
        for q in plans.iter().step_by(stride).take(PER_CASE) {
            let current = strings(&q["args"]["current_heads"]);
            let target = q["args"]["target"].as_str().unwrap();
            // Start from the recorded rows, with the tables of every applied revision.
            c.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").unwrap();
            let mut setup = String::from("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n");
            for r in applied(g, &current) {
                setup.push_str(&format!("CREATE TABLE t_{}_rows (id int);\n", g.id(r)));
            }
            for h in &current {
                setup.push_str(&format!("INSERT INTO alembic_version VALUES ('{h}');\n"));
            }
            c.batch_execute(&setup).unwrap();
            let command = if q["kind"] == "upgrade" { Command::Upgrade(target.into()) } else { Command::Downgrade(target.into()) };
            let outcome = m.run(&mut c, &command).unwrap_or_else(|e| panic!("{name}: {command:?} from {current:?}: {e}"));
            let expected = &q["expected"];
            let want_rows: Vec<String> = strings(&expected["heads_after"]);
            let rows: Vec<String> =
                c.query("SELECT version_num FROM alembic_version ORDER BY 1", &[]).unwrap().iter().map(|r| r.get(0)).collect();
            assert_eq!(rows, want_rows, "{name}: {command:?} from {current:?}");
            let steps: Vec<(String, String)> = c
                .query("SELECT revision, direction FROM kiln_history ORDER BY applied_at, id", &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let want_steps: Vec<(String, String)> = expected["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let dir = if s["direction"] == "up" { "upgrade" } else { "downgrade" };
                    (s["revision"].as_str().unwrap().to_string(), dir.to_string())
                })
                .collect();
            assert_eq!(steps, want_steps, "{name}: {command:?} from {current:?}");
            assert_eq!(outcome.after, want_rows);
            let tables: BTreeSet<String> = c
                .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%\\_rows'", &[])
                .unwrap()
                .iter()
                .map(|r| {
                    let t: String = r.get(0);
                    t[2..t.len() - "_rows".len()].to_string()
                })
                .collect();
            let want_tables: BTreeSet<String> = applied(g, &want_rows).into_iter().map(|r| g.id(r).to_string()).collect();
            assert_eq!(tables, want_tables, "{name}: {command:?} from {current:?}");
            checked += 1;
        }
    }
    println!("oracle plans applied to PostgreSQL: {checked}");
    assert!(checked > 400, "only {checked} plans checked");
}

/// The revisions applied when the version table holds `rows`.
fn applied(g: &kiln::Graph, rows: &[String]) -> Vec<usize> {
    let heads: Vec<usize> = rows.iter().filter_map(|r| g.index_of(r)).collect();
    let applied = g.applied_with(&heads);
    (0..g.len()).filter(|&r| applied[r]).collect()
}
