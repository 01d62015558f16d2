//! Fault-injection trials against the harness's PostgreSQL, through the
//! `kiln` binary as a container would run it.
//!
//! A set of transactional and non-transactional revisions over a table
//! large enough that each `CREATE INDEX CONCURRENTLY` takes a while is
//! upgraded; each trial interrupts the run at a random moment (`kill -9` of
//! the process, `pg_terminate_backend` of its session, or a restart of the
//! server), then reruns plain
//! `kiln upgrade head` (and only commands kiln's own messages name) until it
//! succeeds. After each trial the schema (through pg_catalog), the version
//! table and the history equal an uninterrupted run's: every trial reaches
//! head, no INVALID index is left, nothing is applied twice.
//!
//! The kiln that landed before this one (built from the repository's
//! history) is raced against this one, and its interrupted runs are
//! finished by this one.
//!
//! `KILN_TRIALS=N` sets the number of trials of each kind (CI: 50 kills,
//! 10 terminations and 5 server restarts, the last two capped at 50 and 20;
//! the long run documented in the README: 200).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln::cluster::Cluster;

use crate::pg::{client, cluster, schema, versions, write_dir};

fn trials(default: usize) -> usize {
    std::env::var("KILN_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const ROWS: usize = 150_000;

/// Revisions 2 and 4 run outside a transaction; 3 is transactional. Each
/// writes one row to `audit_logs` (primary key: applying it twice fails);
/// without `data`, 2 and 4 hold only statements whose effect the catalog
/// shows (what a run an older kiln left, without recorded progress, needs).
fn migrations(name: &str, data: bool) -> PathBuf {
    let rev = |id: &str, revises: &str, extra: &str, up: &str, down: &str| {
        (
            format!("{id}_step.sql"),
            format!("-- Step {id}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n-- Create Date: 2026-12-01 10:00:00\n{extra}\n-- kiln:upgrade\n{up}\n\n-- kiln:downgrade\n{down}\n"),
        )
    };
    let files = [
        rev(
            "aaaa00000001",
            "",
            "",
            "CREATE TABLE items (id VARCHAR(26) NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, note TEXT, CONSTRAINT pk_items PRIMARY KEY (id));\n\
             CREATE TABLE audit_logs (id VARCHAR(26) NOT NULL, what TEXT NOT NULL, CONSTRAINT pk_audit_logs PRIMARY KEY (id));",
            "DROP TABLE audit_logs;\nDROP TABLE items;",
        ),
        rev(
            "bbbb00000002",
            "aaaa00000001",
            "-- Transactional: false\n",
            "CREATE INDEX CONCURRENTLY ix_items_a ON items (a);\n\
             INSERT INTO audit_logs (id, what) VALUES ('r2', 'after ix_items_a');\n\
             CREATE INDEX CONCURRENTLY ix_items_b ON items (b);",
            "DROP INDEX CONCURRENTLY ix_items_b;\nDELETE FROM audit_logs WHERE id = 'r2';\nDROP INDEX CONCURRENTLY ix_items_a;",
        ),
        rev(
            "cccc00000003",
            "bbbb00000002",
            "",
            "ALTER TABLE items ADD COLUMN c INTEGER;\nUPDATE items SET c = a WHERE a < 10;\nINSERT INTO audit_logs (id, what) VALUES ('r3', 'column c');",
            "DELETE FROM audit_logs WHERE id = 'r3';\nALTER TABLE items DROP COLUMN c;",
        ),
        rev(
            "dddd00000004",
            "cccc00000003",
            "-- Transactional: false\n",
            "CREATE INDEX CONCURRENTLY ix_items_a_b ON items (a, b);\nVACUUM items;\n\
             INSERT INTO audit_logs (id, what) VALUES ('r4', 'after ix_items_a_b');\nDROP INDEX CONCURRENTLY ix_items_a;",
            "CREATE INDEX CONCURRENTLY ix_items_a ON items (a);\nDELETE FROM audit_logs WHERE id = 'r4';\nDROP INDEX CONCURRENTLY ix_items_a_b;",
        ),
    ];
    let files = files.map(|(file, text)| {
        let text =
            if data { text } else { text.lines().filter(|l| !l.contains("'r2'") && !l.contains("'r4'")).collect::<Vec<_>>().join("\n") };
        (file, text)
    });
    write_dir(name, &files, Some("[lints]\nmixed-data-schema = \"allow\"\nindex-concurrently = \"allow\"\n"))
}

fn kiln(dir: &Path, url: &str, args: &[&str]) -> Command {
    kiln_at(Path::new(env!("CARGO_BIN_EXE_kiln")), dir, url, args)
}

fn kiln_at(binary: &Path, dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(binary);
    c.arg("--dir").arg(dir).args(["--database-url", url]).args(args).env_remove("DATABASE_URL");
    c
}

/// A database at revision 1 with the rows loaded, to copy per trial.
fn template(pg: &Cluster, dir: &Path, seed: u64) -> String {
    let name = format!("kiln_template_{}_{seed}", std::process::id());
    let mut admin = client(&pg.url("postgres"));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = pg.url(&name);
    let out = kiln(dir, &url, &["upgrade", "aaaa00000001"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    client(&url)
        .batch_execute(&format!(
            "INSERT INTO items (id, a, b, note) SELECT lpad(g::text, 26, '0'), g % 1000, g % 7919, md5(g::text) FROM generate_series(1, {ROWS}) g; ANALYZE items"
        ))
        .unwrap();
    name
}

fn copy_of(pg: &Cluster, template: &str, name: &str) -> String {
    let mut admin = client(&pg.url("postgres"));
    admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).unwrap();
    pg.url(name)
}

/// What an uninterrupted run leaves: schema, version rows, audit rows and
/// the (revision, direction, status) of each history row.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    schema: Vec<String>,
    versions: Vec<String>,
    audit: Vec<String>,
    history: Vec<(String, String, String)>,
    invalid_indexes: i64,
}

fn snapshot(url: &str) -> Snapshot {
    let mut c = client(url);
    Snapshot {
        schema: schema(&mut c),
        versions: versions(&mut c),
        audit: c.query("SELECT id FROM audit_logs ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect(),
        history: c
            .query("SELECT revision, direction, status FROM kiln_history ORDER BY revision, direction, status", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        invalid_indexes: c.query_one("SELECT count(*) FROM pg_index WHERE NOT indisvalid", &[]).unwrap().get(0),
    }
}

/// A small deterministic generator (xorshift), so a failing trial's moment can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Reruns plain `kiln upgrade head` once: it must succeed by itself (for
/// these statement kinds no message asks for a resolve command).
fn rerun(dir: &Path, url: &str) -> Result<(), String> {
    let out = kiln(dir, url, &["upgrade", "head"]).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("the rerun failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[derive(Clone, Copy)]
enum Fault {
    Kill,
    Terminate,
    Restart,
}

/// How a kind of trial runs: which binary the interrupted run is, and
/// whether the revisions write data.
struct Trials<'a> {
    fault: Fault,
    count: usize,
    seed: u64,
    interrupted: &'a Path,
    data: bool,
}

fn run_trials(pg: &Cluster, t: Trials<'_>) {
    let Trials { fault, count, seed, interrupted: binary, data } = t;
    let dir = migrations(&format!("reliability-{seed}"), data);
    let template = template(pg, &dir, seed);
    // The uninterrupted run: the reference, and how long a run takes.
    let reference_url = copy_of(pg, &template, &format!("kiln_ref_{}_{seed}", std::process::id()));
    let started = Instant::now();
    let out = kiln(&dir, &reference_url, &["upgrade", "head"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let span = started.elapsed().as_millis() as u64;
    let reference = snapshot(&reference_url);
    assert_eq!(reference.versions, ["dddd00000004"]);
    assert_eq!(reference.invalid_indexes, 0);
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut interrupted = 0;
    let mut reruns = 0;
    for trial in 0..count {
        let url = copy_of(pg, &template, &format!("kiln_trial_{}_{seed}_{trial}", std::process::id()));
        let at = rng.below(span + span / 5);
        let mut child = kiln_at(binary, &dir, &url, &["upgrade", "head"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let finished = child.try_wait().unwrap().is_some();
        match fault {
            Fault::Kill => {
                let _ = child.kill();
            }
            Fault::Restart => pg.restart().unwrap(),
            Fault::Terminate => {
                // Every kiln session of this database (kiln names itself in application_name).
                let mut admin = client(&pg.url("postgres"));
                let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
                admin
                    .batch_execute(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND application_name LIKE 'kiln %'"
                    ))
                    .unwrap();
            }
        }
        let _ = child.wait();
        if !finished {
            interrupted += 1;
        }
        match rerun(&dir, &url) {
            Ok(()) => reruns += 1,
            Err(e) => {
                failures.push(format!("trial {trial} (seed {seed}, fault at {at} ms of {span} ms): {e}"));
                continue;
            }
        }
        let got = snapshot(&url);
        // A resumed non-transactional revision keeps one history row; every
        // other row is the same as in the uninterrupted run.
        if got != reference {
            failures.push(format!(
                "trial {trial} (seed {seed}, fault at {at} ms of {span} ms): state differs\n got {got:?}\nwant {reference:?}"
            ));
        }
    }
    let by = if binary == this_kiln() { "" } else { " of the older kiln" };
    println!(
        "{} trials{by}: {count}, {interrupted} interrupted mid-run, {reruns} rerun(s), {} failure(s); a run takes {span} ms",
        match fault {
            Fault::Kill => "kill -9",
            Fault::Terminate => "pg_terminate_backend",
            Fault::Restart => "server restart",
        },
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn kill_9_at_random_moments_then_plain_reruns_reach_the_same_state() {
    run_trials(
        cluster(),
        Trials { fault: Fault::Kill, count: trials(50), seed: 0x9e37_79b9_7f4a_7c15, interrupted: this_kiln(), data: true },
    );
}

#[test]
fn terminated_sessions_then_plain_reruns_reach_the_same_state() {
    run_trials(
        cluster(),
        Trials { fault: Fault::Terminate, count: trials(10).min(50), seed: 0x2545_f491_4f6c_dd1d, interrupted: this_kiln(), data: true },
    );
}

#[test]
fn a_server_restart_mid_run_then_plain_reruns_reach_the_same_state() {
    // A cluster of its own: restarting the shared one would cut other tests.
    let pg = Cluster::start().unwrap();
    run_trials(
        &pg,
        Trials { fault: Fault::Restart, count: trials(5).min(20), seed: 0x1234_5678_9abc_def1, interrupted: this_kiln(), data: true },
    );
}

fn this_kiln() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kiln"))
}

/// The kiln that landed before per-statement progress (its last commit on
/// main), built from this repository's history, once per test run.
const OLDER: &str = "7bdd7a018801dfc27caf2650ea8d3d4ef86d6a85";

fn older_kiln() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let base = root.join("target").join("kiln-older");
        let binary = base.join(format!("kiln-{}", &OLDER[..12]));
        if binary.is_file() {
            return binary;
        }
        let src = base.join(format!("src-{}", &OLDER[..12]));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(&src).unwrap();
        let mut archive = Command::new("git").arg("-C").arg(root).args(["archive", OLDER]).stdout(Stdio::piped()).spawn().unwrap();
        let untar = Command::new("tar").arg("-x").arg("-C").arg(&src).stdin(archive.stdout.take().unwrap()).status().unwrap();
        let archived = archive.wait().unwrap();
        assert!(
            untar.success() && archived.success(),
            "cannot unpack kiln {OLDER} from this repository's history (a clone with history is needed)"
        );
        // The build script tests' target directory, whose dependencies are mostly compiled already.
        let target = root.join("target").join("kiln-e2e").join("target");
        let out = Command::new(env!("CARGO"))
            .current_dir(&src)
            .args(["build", "--quiet", "--bin", "kiln", "--features", "cli"])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(out.status.success(), "building kiln {OLDER} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::copy(target.join("debug").join("kiln"), &binary).unwrap();
        binary
    })
}

#[test]
fn a_run_the_older_kiln_left_killed_is_finished_by_this_one() {
    run_trials(
        cluster(),
        Trials { fault: Fault::Kill, count: trials(10).min(50), seed: 0x5851_f42d_4c95_7f2d, interrupted: older_kiln(), data: false },
    );
}

#[test]
fn the_older_and_this_kiln_started_together_apply_each_revision_once() {
    let dir = migrations("reliability-race", true);
    let template = template(cluster(), &dir, 0xace);
    let reference_url = copy_of(cluster(), &template, &format!("kiln_race_ref_{}", std::process::id()));
    assert!(kiln(&dir, &reference_url, &["upgrade", "head"]).status().unwrap().success());
    let reference = snapshot(&reference_url);
    let mut failures = Vec::new();
    let count = trials(10).min(50);
    for trial in 0..count {
        let url = copy_of(cluster(), &template, &format!("kiln_race_{}_{trial}", std::process::id()));
        let (first, second) = if trial % 2 == 0 { (older_kiln(), this_kiln()) } else { (this_kiln(), older_kiln()) };
        let a = kiln_at(first, &dir, &url, &["upgrade", "head"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let b = kiln_at(second, &dir, &url, &["upgrade", "head"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            if !out.status.success() {
                failures.push(format!("trial {trial}: a runner failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let got = snapshot(&url);
        if got != reference {
            failures.push(format!("trial {trial}: state differs\n got {got:?}\nwant {reference:?}"));
        }
    }
    println!("older and newer kiln started together: {count} trials, {} failure(s)", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// 50 processes started at once over real work (the revisions above): the
/// batch's time against one process's, printed as a figure, and against
/// the floor of the same 50 starts without any waiting (one process does
/// the work while 49 only connect and read the version). Waiters leave as
/// soon as the holder has reached head; the state equals one run's.
#[test]
fn fifty_simultaneous_starts_over_real_work_cost_little_more_than_one() {
    let dir = migrations("reliability-fifty", true);
    let template = template(cluster(), &dir, 0xf1f7);
    // Without TLS set-up, which costs each process more CPU than waiting does (see cli.rs).
    let db = |tag: &str| format!("{}?sslmode=disable", copy_of(cluster(), &template, &format!("kiln_fifty_{tag}_{}", std::process::id())));
    let alone = db("one");
    let t = Instant::now();
    assert!(kiln(&dir, &alone, &["upgrade", "head"]).status().unwrap().success());
    let one = t.elapsed();
    let reference = snapshot(&alone);
    let url = db("batch");
    let t = Instant::now();
    let children: Vec<_> =
        (0..50).map(|_| kiln(&dir, &url, &["upgrade", "head"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let batch = t.elapsed();
    let floor_db = db("floor");
    let t = Instant::now();
    let worker = kiln(&dir, &floor_db, &["upgrade", "head"]).stdout(Stdio::null()).spawn().unwrap();
    let readers: Vec<_> = (0..49).map(|_| kiln(&dir, &floor_db, &["current"]).stdout(Stdio::null()).spawn().unwrap()).collect();
    for mut child in std::iter::once(worker).chain(readers) {
        assert!(child.wait().unwrap().success());
    }
    let floor = t.elapsed();
    println!(
        "50 simultaneous starts over real work: {:.0} ms, one process alone {:.0} ms: {:.2}x; \
         one worker + 49 readers started together {:.0} ms: waiting costs {:.2}x",
        batch.as_secs_f64() * 1e3,
        one.as_secs_f64() * 1e3,
        batch.as_secs_f64() / one.as_secs_f64(),
        floor.as_secs_f64() * 1e3,
        batch.as_secs_f64() / floor.as_secs_f64()
    );
    assert_eq!(snapshot(&url), reference);
    assert_eq!(snapshot(&floor_db), reference);
}
