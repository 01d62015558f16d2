//! Benchmark: kiln applying 1,000 generated revisions against PostgreSQL vs.
//! psql running the same SQL with one transaction per revision, and a no-op
//! startup (database already at head) vs. a bare connect plus one query.
//!
//! `cargo bench --bench runtime` starts its own throwaway cluster and prints
//! the times and the ratios against the targets (≤ 1.3× and ≤ 1.5×).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln::cluster::Cluster;
use kiln::Migrator;

const N: usize = 1_000;

fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let id = |i: usize| format!("{:012x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16);
    for i in 0..N {
        let revises = match (i, i % 50) {
            (0, _) => String::new(),
            (_, 11) | (_, 12) => id(i - 2),
            (_, 13) => format!("{}, {}", id(i - 1), id(i - 2)),
            _ => id(i - 1),
        };
        let text = format!(
            "-- Step {i}\n--\n-- Revision ID: {rid}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00\n\n\
             -- kiln:upgrade\nCREATE TABLE t{i} (id VARCHAR(26) NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), CONSTRAINT pk_t{i} PRIMARY KEY (id));\n\
             CREATE INDEX ix_t{i}_created_at ON t{i} (created_at);\n\n-- kiln:downgrade\nDROP TABLE t{i};\n",
            rid = id(i)
        );
        std::fs::write(dir.join(format!("{}_step_{i}.sql", id(i))), text).unwrap();
    }
}

fn create_db(cluster: &Cluster, name: &str) -> String {
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    cluster.url(name)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kiln-bench/runtime-migrations");
    generate(&dir);
    let migrations = kiln_core::load_dir(&dir, "migrations").unwrap_or_else(|r| panic!("{}", r.render())).leak();

    // The same SQL for psql: one transaction per revision, in kiln's order.
    let migrator = Migrator::new(migrations);
    let plan = migrator.graph().plan_upgrade(&[], "heads").unwrap();
    let mut script = String::new();
    for step in &plan.steps {
        script.push_str("BEGIN;\n");
        script.push_str(migrations.at(step.revision).upgrade_sql());
        script.push_str("COMMIT;\n");
    }
    let script_path = dir.join("../runtime-psql.sql");
    std::fs::write(&script_path, script).unwrap();

    let rounds = 3;
    let (mut kiln_best, mut psql_best) = (Duration::MAX, Duration::MAX);
    for round in 0..rounds {
        let url = create_db(&cluster, &format!("bench_psql_{round}"));
        let t = Instant::now();
        let ok = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
            .arg(&script_path)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        psql_best = psql_best.min(t.elapsed());

        let url = create_db(&cluster, &format!("bench_kiln_{round}"));
        let t = Instant::now();
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let outcome = Migrator::new(migrations).upgrade(&mut client, "heads").unwrap();
        kiln_best = kiln_best.min(t.elapsed());
        assert_eq!(outcome.applied.len(), N);
    }
    println!("apply {N} revisions (best of {rounds}):");
    println!("  psql, one transaction per revision:      {:>8.1} ms", ms(psql_best));
    println!("  kiln (connect, lock, plan, apply, record): {:>8.1} ms", ms(kiln_best));
    println!("  ratio kiln / psql: {:.2}  (target <= 1.30)", kiln_best.as_secs_f64() / psql_best.as_secs_f64());

    // No-op startup against an up-to-date database, interleaved.
    let url = cluster.url("bench_kiln_0");
    let iterations = 200;
    let (mut bare, mut noop) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        let t = Instant::now();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.simple_query("SELECT 1").unwrap();
        bare.push(t.elapsed());
        drop(c);
        let t = Instant::now();
        let m = Migrator::new(migrations);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let outcome = m.upgrade(&mut c, "heads").unwrap();
        noop.push(t.elapsed());
        assert!(outcome.applied.is_empty() && !outcome.locked);
    }
    bare.sort();
    noop.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    println!("no-op startup, database at head (median of {iterations}, {N} revisions embedded):");
    println!("  bare connect + SELECT 1:                 {:>8.2} ms", ms(median(&bare)));
    println!("  kiln Migrator::new + connect + upgrade:  {:>8.2} ms", ms(median(&noop)));
    println!("  ratio kiln / bare: {:.2}  (target <= 1.50)", median(&noop).as_secs_f64() / median(&bare).as_secs_f64());
}
