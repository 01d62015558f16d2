//! The `kiln` binary: its subcommands, exit codes and JSON output, 50
//! processes starting at once, offline SQL run by psql against an online
//! upgrade, TLS, and passwords kept out of errors.

use std::process::{Command, Output};

use crate::pg::{client, cluster, fresh_db, schema, versions};

pub(crate) fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env_remove("DATABASE_URL").output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn graph_commands_print_alembic_style_and_json() {
    let heads = kiln(&["heads"]);
    assert!(heads.status.success());
    // Alembic's text: `heads` names the head; `history` gives parents, marks and message.
    assert_eq!(stdout(&heads).trim(), "f0e1d2c3b4a5 (head)");
    let history = kiln(&["history"]);
    let lines: Vec<String> = stdout(&history).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 7);
    assert!(lines[6].starts_with("<base> -> 1975ea83b712"), "{lines:?}");
    assert_eq!(lines[0], "b7e2d91c4a05, e4f5a6b7c8d9 -> f0e1d2c3b4a5 (head) (mergepoint), Merge index and plan branches");
    let json: serde_json::Value = serde_json::from_slice(&kiln(&["history", "--format", "json"]).stdout).unwrap();
    let ids: Vec<&str> = json.as_array().unwrap().iter().map(|r| r["revision"].as_str().unwrap()).collect();
    assert_eq!(ids, ["f0e1d2c3b4a5", "b7e2d91c4a05", "e4f5a6b7c8d9", "a1b2c3d4e5f6", "3c4d5e6f7a8b", "7fbe65eaef1b", "1975ea83b712"]);
    let ranged = stdout(&kiln(&["history", "-r", "3c4d:a1b2"]));
    assert_eq!(ranged.lines().count(), 2, "{ranged}");
    let branches = stdout(&kiln(&["branches"]));
    assert!(branches.contains("a1b2c3d4e5f6 (branchpoint)") && branches.contains("-> b7e2d91c4a05"), "{branches}");
    let show = stdout(&kiln(&["show", "b7e2"]));
    assert!(show.starts_with("Rev: b7e2d91c4a05\nParent: a1b2c3d4e5f6\nPath: ") && !show.contains("CREATE INDEX"), "{show}");
    let verbose = stdout(&kiln(&["show", "-v", "b7e2"]));
    assert!(verbose.contains("Rev: b7e2d91c4a05") && verbose.contains("CREATE INDEX CONCURRENTLY"), "{verbose}");
    let bad = kiln(&["show", "zzzz"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("no revision or branch `zzzz`"), "{}", stderr(&bad));
    for bad in [&["upgrade", "--bogus"][..], &["upgrade"], &["frobnicate"]] {
        let usage = kiln(bad);
        assert_eq!(usage.status.code(), Some(2), "{bad:?}: {}", stderr(&usage));
        assert!(stderr(&usage).contains("Usage: kiln"), "{}", stderr(&usage));
    }
}

#[test]
fn offline_sql_for_a_range_and_the_plan_as_json() {
    let sql = kiln(&["upgrade", "a1b2:head", "--sql"]);
    assert!(sql.status.success(), "{}", stderr(&sql));
    let text = stdout(&sql);
    assert!(text.contains("-- Running upgrade a1b2c3d4e5f6 -> e4f5a6b7c8d9"), "{text}");
    assert!(text.contains("-- Running upgrade b7e2d91c4a05, e4f5a6b7c8d9 -> f0e1d2c3b4a5"), "{text}");
    assert!(text.contains("UPDATE \"alembic_version\" SET version_num = 'e4f5a6b7c8d9' WHERE version_num = 'a1b2c3d4e5f6';"), "{text}");
    assert!(!text.contains("CREATE TABLE teams"), "the range starts after teams");
    let from_base = stdout(&kiln(&["upgrade", "head", "--sql"]));
    assert!(from_base.contains("-- Running upgrade  -> 1975ea83b712"), "{from_base}");
    // Several current heads as the start.
    let json: serde_json::Value =
        serde_json::from_slice(&kiln(&["upgrade", "b7e2,e4f5:head", "--sql", "--format", "json"]).stdout).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["revision"], "f0e1d2c3b4a5");
    assert_eq!(steps[0]["version_ops"][0]["op"], "delete");
    assert_eq!(steps[0]["version_ops"][1]["op"], "update");
    assert_eq!(json["heads_after"][0], "f0e1d2c3b4a5");
    let stamp = stdout(&kiln(&["stamp", "a1b2,e4f5:head", "--sql"]));
    assert!(stamp.contains("DELETE FROM \"alembic_version\" WHERE version_num = 'a1b2c3d4e5f6';"), "{stamp}");
    assert!(stamp.contains("INSERT INTO \"alembic_version\" (version_num) VALUES ('f0e1d2c3b4a5');"), "{stamp}");
    let down = stdout(&kiln(&["downgrade", "f0e1d2c3b4a5:a1b2c3d4e5f6", "--sql"]));
    assert!(down.contains("-- Running downgrade f0e1d2c3b4a5 -> b7e2d91c4a05, e4f5a6b7c8d9"), "{down}");
    assert!(down.contains("DROP INDEX CONCURRENTLY ix_api_keys_last_used_at"), "{down}");
}

#[test]
fn offline_sql_run_by_psql_builds_the_same_schema_as_an_online_upgrade() {
    let (online, offline) = (fresh_db(), fresh_db());
    let up = kiln(&["--database-url", &online, "upgrade", "head"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let script = kiln(&["upgrade", "head", "--sql"]);
    let path = std::env::temp_dir().join(format!("kiln-offline-{}.sql", std::process::id()));
    std::fs::write(&path, &script.stdout).unwrap();
    let psql = Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &offline, "-f"]).arg(&path).output().unwrap();
    assert!(psql.status.success(), "psql failed: {}", stderr(&psql));
    let (mut a, mut b) = (client(&online), client(&offline));
    assert_eq!(schema(&mut a), schema(&mut b));
    assert!(schema(&mut a).iter().any(|l| l.starts_with("index public.ix_api_keys_last_used_at")));
    assert_eq!(versions(&mut a), versions(&mut b));
    // The offline script records history too, so kiln carries on from it.
    let check = kiln(&["--database-url", &offline, "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let n: i64 = b.query_one("SELECT count(*) FROM kiln_history", &[]).unwrap().get(0);
    assert_eq!(n, 7);
}

#[test]
fn fifty_processes_started_at_once_apply_every_revision_exactly_once() {
    // One process alone, for the ratio printed below (a figure, not a timed assertion).
    // Without TLS: setting up OpenSSL costs each process more CPU than the
    // whole run, and 50 of them on two cores would measure only that.
    let alone = format!("{}?sslmode=disable", fresh_db());
    let t = std::time::Instant::now();
    assert!(kiln(&["--database-url", &alone, "upgrade", "head"]).status.success());
    let one = t.elapsed();
    let url = format!("{}?sslmode=disable", fresh_db());
    let t = std::time::Instant::now();
    let children: Vec<_> = (0..50)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_kiln"))
                .args(["--database-url", &url, "--format", "json", "upgrade", "head"])
                .env_remove("DATABASE_URL")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a runner failed: {}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        applied += json["applied"].as_array().unwrap().len();
    }
    let batch = t.elapsed();
    // The floor: 50 processes that only connect and read the version table.
    let t = std::time::Instant::now();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_kiln"))
                .args(["--database-url", &url, "current"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in readers {
        assert!(r.wait().unwrap().success());
    }
    let floor = t.elapsed();
    println!(
        "50 simultaneous starts: {:.0} ms; one process alone {:.0} ms ({:.2}x); 50 processes that only connect and read {:.0} ms ({:.2}x)",
        batch.as_secs_f64() * 1e3,
        one.as_secs_f64() * 1e3,
        batch.as_secs_f64() / one.as_secs_f64(),
        floor.as_secs_f64() * 1e3,
        batch.as_secs_f64() / floor.as_secs_f64()
    );
    assert_eq!(applied, 7, "each revision applied once in total");
    let mut c = client(&url);
    assert_eq!(versions(&mut c), ["f0e1d2c3b4a5"]);
    let per_revision: Vec<i64> =
        c.query("SELECT count(*) FROM kiln_history GROUP BY revision", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(per_revision, vec![1; 7]);
}

#[test]
fn check_current_and_exit_codes_for_probes() {
    let url = fresh_db();
    let check = kiln(&["--database-url", &url, "check"]);
    assert_eq!(check.status.code(), Some(3), "{}", stdout(&check));
    assert!(stdout(&check).contains("7 revision(s) pending"), "{}", stdout(&check));
    // An empty version table: nothing on stdout, as Alembic; a note on stderr.
    let empty = kiln(&["--database-url", &url, "current"]);
    assert!(stdout(&empty).is_empty() && stderr(&empty).contains("(base"), "{}{}", stdout(&empty), stderr(&empty));
    assert!(kiln(&["--database-url", &url, "upgrade", "+2"]).status.success());
    let current = stdout(&kiln(&["--database-url", &url, "current"]));
    assert!(current.starts_with("7fbe65eaef1b") && !current.contains("->"), "{current}");
    let json: serde_json::Value = serde_json::from_slice(&kiln(&["--database-url", &url, "--format", "json", "current"]).stdout).unwrap();
    assert_eq!(json["current"][0], "7fbe65eaef1b");
    assert!(kiln(&["--database-url", &url, "upgrade", "head"]).status.success());
    assert_eq!(kiln(&["--database-url", &url, "check"]).status.code(), Some(0));
    let down = kiln(&["--database-url", &url, "downgrade", "-1"]);
    assert_eq!(down.status.code(), Some(1), "the head is a merge: -1 is ambiguous");
    let down = kiln(&["--database-url", &url, "downgrade", "a1b2"]);
    assert!(down.status.success(), "{}", stderr(&down));
    let indicated = stdout(&kiln(&["--database-url", &url, "history", "--indicate-current"]));
    assert!(indicated.contains("a1b2c3d4e5f6 (current)"), "{indicated}");
    let stamp = kiln(&["--database-url", &url, "stamp", "heads"]);
    assert!(stamp.status.success());
    assert_eq!(kiln(&["--database-url", &url, "check"]).status.code(), Some(0));
}

#[test]
fn passwords_never_appear_in_errors() {
    let url = "postgres://kart:hunter2secret@127.0.0.1:1/app";
    let out = kiln(&["--database-url", url, "upgrade", "head"]);
    assert_eq!(out.status.code(), Some(1));
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(!o.contains("hunter2secret") && !e.contains("hunter2secret"), "{o}{e}");
    assert!(e.contains("postgres://kart:***@127.0.0.1:1/app"), "{e}");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["current"])
        .env("DATABASE_URL", "host=127.0.0.1 port=1 user=kart password=hunter2secret")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("hunter2secret") && !stdout(&out).contains("hunter2secret"));
}

#[test]
fn a_directory_given_at_run_time_goes_through_the_same_validation() {
    let out = kiln(&["--dir", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/fixtures/missing_parent"), "heads"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error[kiln::missing-parent]"), "{}", stderr(&out));
    // `revision` and `merge` write valid files with Alembic-style ids.
    let dir = std::env::temp_dir().join(format!("kiln-cli-rev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/fixtures/valid")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let d = dir.to_str().unwrap();
    let fill = |suffix: &str| {
        // A new revision's sections hold only TODO comments, which the build refuses
        // (read-only commands accept them, with a warning): write SQL.
        let name = std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()).find(|p| p.to_string_lossy().ends_with(suffix)).unwrap();
        let text = std::fs::read_to_string(&name).unwrap();
        assert_eq!(kiln(&["--dir", d, "check"]).status.code(), Some(1), "an unfinished revision does not pass the check");
        assert_eq!(kiln(&["--dir", d, "heads"]).status.code(), Some(0), "`heads` lists a graph with an unfinished revision");
        std::fs::write(
            &name,
            text.replace("-- TODO: the upgrade SQL", "SELECT 1;").replace("-- TODO: SQL that undoes the upgrade", "SELECT 2;"),
        )
        .unwrap();
    };
    assert!(kiln(&["--dir", d, "revision", "-m", "Add teams color", "--head", "eeee"]).status.success());
    fill("_add_teams_color.sql");
    assert!(kiln(&["--dir", d, "revision", "-m", "Side branch", "--head", "dddd", "--splice"]).status.success());
    fill("_side_branch.sql");
    // Two unlabelled heads: `heads` lists them, as Alembic does; the check refuses them.
    let heads = kiln(&["--dir", d, "heads"]);
    assert_eq!(heads.status.code(), Some(0), "{}", stderr(&heads));
    assert_eq!(stdout(&heads).lines().filter(|l| l.contains("(head)")).count(), 2, "two heads now: {}", stdout(&heads));
    let check = kiln(&["--dir", d, "check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).contains("error[kiln::multiple-heads]"), "{}", stderr(&check));
    assert!(kiln(&["--dir", d, "merge", "-m", "Merge the branches", "heads"]).status.success());
    let heads = kiln(&["--dir", d, "heads"]);
    assert!(heads.status.success(), "{}", stderr(&heads));
    assert!(stdout(&kiln(&["--dir", d, "history"])).contains("Merge the branches"));
    let new_file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with("_add_teams_color.sql"))
        .unwrap();
    let id = &new_file[..12];
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
}

#[test]
fn tls_connections_require_and_verify() {
    let tls = kiln::cluster::Cluster::start_with(kiln::cluster::Options { tls: true }).unwrap();
    let url = format!("{}?sslmode=require", tls.url("postgres"));
    let c = kiln::cli::connect(&url).unwrap();
    let ssl: bool = c.block_on(c.client().query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])).unwrap().get(0);
    assert!(ssl);
    let out = kiln(&["--database-url", &url, "upgrade", "head"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A server without TLS refuses `sslmode=require` with a clear error.
    let plain = format!("{}?sslmode=require", cluster().url("postgres"));
    let err = kiln::cli::connect(&plain).err().unwrap();
    assert!(err.contains("cannot connect"), "{err}");

    // Verification against the certificate the harness made (for `localhost`).
    let root = tls.tls_certificate().unwrap();
    let root = root.to_str().unwrap();
    let port = tls.port();
    let at = |host: &str, mode: &str, rootcert: Option<&str>| {
        let cert = rootcert.map_or(String::new(), |r| format!("&sslrootcert={r}"));
        format!("postgres://postgres:s3cret@{host}:{port}/postgres?sslmode={mode}{cert}")
    };
    let verified = kiln::cli::connect(&at("localhost", "verify-full", Some(root))).unwrap();
    drop(verified);
    let out = kiln(&["--database-url", &at("localhost", "verify-full", Some(root)), "current"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The right root but another name: refused, saying why.
    let err = kiln::cli::connect(&at("127.0.0.1", "verify-full", Some(root))).err().unwrap();
    assert!(
        err.contains("cannot connect") && (err.contains("certificate") || err.contains("hostname")) && !err.contains("s3cret"),
        "{err}"
    );
    // verify-ca checks the certificate, not the name.
    kiln::cli::connect(&at("127.0.0.1", "verify-ca", Some(root))).unwrap();
    // Without the root, the system's roots do not know the harness's certificate.
    let err = kiln::cli::connect(&at("localhost", "verify-full", None)).err().unwrap();
    assert!(err.contains("certificate"), "{err}");
    let err = kiln::cli::connect(&at("localhost", "verify-full", Some("/nonexistent/root.crt"))).err().unwrap();
    assert!(err.contains("cannot read sslrootcert `/nonexistent/root.crt`"), "{err}");
}

#[test]
fn check_dir_without_a_database_runs_the_build_checks() {
    let lint = |rule: &str, kind: &str| format!("{}/tests/lint/{rule}/{kind}", env!("CARGO_MANIFEST_DIR"));
    // The reference schema: clean.
    let ok = kiln(&["check", "--dir", "migrations", "--deny-warnings"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("7 revision(s) checked, 0 warning(s)"), "{}", stdout(&ok));
    // An error: the same rendered diagnostic as the build, and exit 1.
    let bad = kiln(&["check", "--dir", &lint("index-name", "bad")]);
    assert_eq!(bad.status.code(), Some(1));
    let expected = std::fs::read_to_string(lint("index-name", "expected.txt")).unwrap();
    let first_line = expected.lines().next().unwrap();
    assert!(stderr(&bad).contains(first_line), "{}", stderr(&bad));
    // A warning passes, unless warnings are denied.
    let warn = kiln(&["check", "--dir", &lint("index-concurrently", "bad")]);
    assert_eq!(warn.status.code(), Some(0), "{}", stderr(&warn));
    assert!(stderr(&warn).contains("warning[kiln::index-concurrently]"), "{}", stderr(&warn));
    let denied = kiln(&["check", "--dir", &lint("index-concurrently", "bad"), "--deny-warnings"]);
    assert_eq!(denied.status.code(), Some(1));
    // JSON for CI annotations: the same finding, with its place.
    let json = kiln(&["check", "--dir", &lint("index-name", "bad"), "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let d = &v[0];
    assert_eq!((d["severity"].as_str(), d["code"].as_str()), (Some("error"), Some("index-name")));
    assert!(d["file"].as_str().unwrap().ends_with("b2c3d4e5f6a7_create_teams_table.sql"), "{v}");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(13), Some(14)));
    assert_eq!(d["help"].as_str(), Some("name it `ix_teams_name`: `ix_<table>_<column>[_<column>...]`"));
}

#[test]
fn connections_fail_with_their_cause_and_a_silent_server_times_out() {
    // A server that accepts TCP and never answers (a black-holed proxy).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://kiln:s3cret@127.0.0.1:{port}/app");
    for args in [vec!["--connect-timeout", "1"], vec![]] {
        let with_url = if args.is_empty() { format!("{url}?connect_timeout=1") } else { url.clone() };
        let started = std::time::Instant::now();
        let mut all = vec!["--database-url", &with_url, "current"];
        all.splice(0..0, args.iter().copied());
        let out = kiln(&all);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "bounded by the connect timeout");
        let err = stderr(&out);
        assert!(err.contains("did not answer within 1 s") && !err.contains("s3cret"), "{err}");
    }
    drop(silent);
    // A refused port keeps the system's cause.
    let out = kiln(&["--database-url", &format!("postgres://kiln:s3cret@127.0.0.1:{port}/app"), "current"]);
    assert!(stderr(&out).contains("Connection refused") && !stderr(&out).contains("s3cret"), "{}", stderr(&out));
    // A role the server does not know keeps PostgreSQL's cause (the authentication path).
    let no_role = cluster().url("postgres").replace("postgres@", "nobody_here:s3cret@");
    let out = kiln(&["--database-url", &no_role, "current"]);
    assert!(
        stderr(&out).contains("role \"nobody_here\" does not exist (SQLSTATE 28000)") && !stderr(&out).contains("s3cret"),
        "{}",
        stderr(&out)
    );
    // A missing database keeps PostgreSQL's message and SQLSTATE.
    let out = kiln(&["--database-url", &cluster().url("no_such_db"), "current"]);
    assert!(stderr(&out).contains("database \"no_such_db\" does not exist (SQLSTATE 3D000)"), "{}", stderr(&out));
    // Table names PostgreSQL would truncate, or an empty one, are refused before anything runs.
    let db = fresh_db();
    let long = "v".repeat(61);
    for (name, want) in [(long.as_str(), "too long"), ("", "is empty")] {
        let out = kiln(&["--database-url", &db, "--version-table", name, "upgrade", "head"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
    assert!(crate::pg::tables(&mut client(&db)).is_empty(), "nothing ran");
}

#[test]
fn a_wrong_password_keeps_postgresql_cause_and_never_shows_the_password() {
    let c = cluster();
    // This role alone authenticates by password (the rest of the harness is trust).
    let hba = c.dir().join("data/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    if !text.contains("kiln_pw_role") {
        std::fs::write(&hba, format!("host all kiln_pw_role 127.0.0.1/32 scram-sha-256\n{text}")).unwrap();
    }
    client(&c.url("postgres"))
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE kiln_pw_role LOGIN PASSWORD 'the-right-one'; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             SELECT pg_reload_conf();",
        )
        .unwrap();
    let at = |password: &str| c.url("postgres").replace("postgres@", &format!("kiln_pw_role:{password}@"));
    // The reload is asynchronous: wait until the server asks for the password.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let err = loop {
        let out = kiln(&["--database-url", &at("wr0ng-s3cret"), "current"]);
        if out.status.code() == Some(1) || std::time::Instant::now() > deadline {
            break stderr(&out);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(err.contains("password authentication failed for user \"kiln_pw_role\" (SQLSTATE 28P01)"), "{err}");
    assert!(!err.contains("wr0ng-s3cret") && err.contains("kiln_pw_role:***@"), "{err}");
    let out = kiln(&["--database-url", &at("the-right-one"), "current"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_server_that_goes_silent_mid_run_ends_it_with_an_error_naming_the_wait() {
    let url = fresh_db();
    // Hold the migration lock, so the run polls for it through its session.
    let mut holder = client(&url);
    let key = kiln::Tables::default().lock_key();
    holder.batch_execute(&format!("SELECT pg_advisory_lock({key})")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--database-url", &url, "--reply-timeout", "2", "--lock-wait", "120", "upgrade", "head"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its server process, frozen as a stopped primary would be: the kernel
    // still acknowledges what kiln sends, and nothing ever answers. Frozen
    // once it polls for the lock (before that it reads kiln's tables).
    let mut pid = None;
    for _ in 0..200 {
        let rows = holder
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'kiln %' AND pid <> pg_backend_pid() \
                 AND datname = current_database() AND query LIKE '%advisory_lock%'",
                &[],
            )
            .unwrap();
        if let Some(r) = rows.first() {
            pid = Some(r.get::<_, i32>(0));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = pid.expect("the run's session appears in pg_stat_activity").to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let stopped = std::time::Instant::now();
    let out = output_within(child, 30);
    let waited = stopped.elapsed();
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(waited < std::time::Duration::from_secs(15), "bounded by the reply timeout, not the lock wait: {waited:?}");
    assert!(err.contains("did not answer within 2 s") && err.contains("advisory lock"), "{err}");
    holder.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).unwrap();
    // Nothing was recorded: a later run applies everything.
    assert!(versions(&mut holder).is_empty());
    let out = kiln(&["--database-url", &url, "upgrade", "head"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_open_transaction_that_read_kilns_tables_does_not_block_a_run() {
    let url = fresh_db();
    assert!(kiln(&["--database-url", &url, "upgrade", "+1"]).status.success());
    // A dashboard left idle in a transaction after reading the history.
    let mut reader = client(&url);
    reader.batch_execute("BEGIN; SELECT count(*) FROM kiln_history; SELECT count(*) FROM alembic_version;").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--database-url", &url, "upgrade", "head"])
        .env_remove("DATABASE_URL")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = output_within(child, 20);
    assert!(out.status.success(), "the run waited for the reader's transaction: {}", stderr(&out));
    reader.batch_execute("COMMIT").unwrap();
    assert_eq!(versions(&mut reader), ["f0e1d2c3b4a5"]);
}

/// The child's output, killing it after `secs`: a hang fails the test
/// instead of hanging it.
fn output_within(mut child: std::process::Child, secs: u64) -> Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < std::time::Duration::from_secs(secs) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

fn kiln_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).current_dir(dir).env_remove("DATABASE_URL").output().unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_stock_binary_only_touches_what_it_is_pointed_at() {
    // Nothing asked: the usage, exit 2, and no cluster, no database.
    let out = Command::new(env!("CARGO_BIN_EXE_kiln")).env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: kiln") && stdout(&out).is_empty(), "{}", stderr(&out));
    // A user's binary over its own set does the same.
    static SET: kiln::Migrations = kiln::embed_migrations!("tests/ui/fixtures/valid");
    assert_eq!(kiln::cli::run(SET, Vec::<String>::new()), 2);

    // No migrations directory: refused, saying how to name one.
    let empty = scratch("empty");
    let out = kiln_in(&empty, &["heads"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no migrations directory here") && stderr(&out).contains("kiln init"), "{}", stderr(&out));

    // ./migrations by default, or the directory a kiln.toml from here up names.
    let project = scratch("project");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fixtures/valid");
    std::fs::create_dir_all(project.join("db/migrations")).unwrap();
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, project.join("db/migrations").join(p.file_name().unwrap())).unwrap();
    }
    let heads_here = stdout(&kiln_in(&project.join("db"), &["heads"]));
    std::fs::write(project.join("kiln.toml"), "# where the migrations are\nmigrations = \"db/migrations\"\n").unwrap();
    std::fs::create_dir_all(project.join("src/deep")).unwrap();
    let out = kiln_in(&project.join("src/deep"), &["heads"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!heads_here.is_empty() && stdout(&out) == heads_here, "{} vs {heads_here}", stdout(&out));
    // Inside the migrations directory itself (its own kiln.toml, or none above).
    std::fs::write(project.join("db/migrations/kiln.toml"), "allow_multiple_heads = false\n").unwrap();
    assert_eq!(stdout(&kiln_in(&project.join("db/migrations"), &["heads"])), heads_here);
    // A root kiln.toml pointing nowhere says so.
    std::fs::write(project.join("kiln.toml"), "migrations = \"nowhere\"\n").unwrap();
    let out = kiln_in(&project.join("src"), &["heads"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("which is not a directory"), "{}", stderr(&out));

    // `kiln init` creates ./migrations with a kiln.toml the build accepts, and never overwrites.
    let fresh = scratch("init");
    let out = kiln_in(&fresh, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fresh.join("migrations/kiln.toml").is_file());
    let out = kiln_in(&fresh, &["revision", "-m", "create workspaces table"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(fresh.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sql"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replace(
            "-- kiln:upgrade\n",
            "-- kiln:upgrade\nCREATE TABLE workspaces (id VARCHAR(26) NOT NULL, CONSTRAINT pk_workspaces PRIMARY KEY (id));\n",
        )
        .replace("-- kiln:downgrade\n", "-- kiln:downgrade\nDROP TABLE workspaces;\n");
    std::fs::write(&file, text).unwrap();
    let out = kiln_in(&fresh, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = kiln_in(&fresh, &["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[test]
fn exit_codes_tell_ok_error_usage_pending_and_needs_a_person_apart() {
    let project = scratch("exit-codes");
    let dir = project.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let url = fresh_db();
    let code = |args: &[&str]| {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        let out = kiln_in(&project, &all);
        (out.status.code().unwrap(), stderr(&out))
    };
    assert_eq!(code(&["frobnicate"]).0, kiln::cli::EXIT_USAGE);
    assert_eq!(kiln_in(&project, &[]).status.code(), Some(kiln::cli::EXIT_USAGE));
    assert_eq!(code(&["check"]).0, kiln::cli::EXIT_PENDING);
    assert_eq!(code(&["upgrade", "head"]).0, kiln::cli::EXIT_OK);
    assert_eq!(code(&["check"]).0, kiln::cli::EXIT_OK);
    let refused = kiln_in(&project, &["--database-url", "postgres://kiln@127.0.0.1:1/none", "check"]);
    assert_eq!(refused.status.code(), Some(kiln::cli::EXIT_ERROR));

    // An applied revision edited since: a person decides (restore, or accept-checksum).
    let file = dir.join("3c4d5e6f7a8b_create_teams_table.sql");
    let original = std::fs::read_to_string(&file).unwrap();
    // (Whitespace and comments are not what ran: a statement must change.)
    std::fs::write(&file, original.replacen("CREATE TABLE teams", "CREATE TABLE IF NOT EXISTS teams", 1)).unwrap();
    let (c, err) = code(&["upgrade", "head"]);
    assert_eq!(c, kiln::cli::EXIT_NEEDS_PERSON, "{err}");
    assert!(err.contains("accept-checksum"), "{err}");
    assert_eq!(code(&["check"]).0, kiln::cli::EXIT_NEEDS_PERSON);
    std::fs::write(&file, original).unwrap();

    // A newer release migrated the database: not ready, unless this one accepts it (a rollback).
    client(&url).batch_execute("UPDATE alembic_version SET version_num = 'ffffffffffff'").unwrap();
    let (c, err) = code(&["check"]);
    assert_eq!(c, kiln::cli::EXIT_NEEDS_PERSON, "{err}");
    assert!(err.contains("--allow-unknown"), "{err}");
    assert_eq!(code(&["check", "--allow-unknown"]).0, kiln::cli::EXIT_OK);
    assert_eq!(code(&["upgrade", "heads", "--allow-unknown"]).0, kiln::cli::EXIT_OK);
    assert_eq!(code(&["upgrade", "heads"]).0, kiln::cli::EXIT_NEEDS_PERSON);
}

#[test]
fn each_revision_is_printed_as_it_commits_and_a_long_one_says_how_long_it_has_run() {
    use std::io::BufRead;
    let dir = scratch("streaming");
    for (id, revises, up) in [
        ("aaaa00000001", vec![], "SELECT 1;"),
        ("bbbb00000002", vec!["aaaa00000001"], "SELECT pg_sleep(11);"),
        ("cccc00000003", vec!["bbbb00000002"], "SELECT pg_sleep(11);"),
    ] {
        let (name, text) = crate::pg::revision(id, &revises, "", up, Some("SELECT 1;"));
        std::fs::write(dir.join(name), text).unwrap();
    }
    let url = fresh_db();
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("--dir")
        .arg(&dir)
        .args(["--database-url", &url, "upgrade", "head"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        lines.push((started.elapsed(), line.unwrap()));
    }
    let out = child.wait_with_output().unwrap();
    let total = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let first = lines.iter().find(|(_, l)| l.starts_with("[1/3] upgrade aaaa00000001 (")).expect("the first revision's line");
    assert!(first.0 + std::time::Duration::from_secs(8) < total, "printed as it committed, not at the end: {lines:?} of {total:?}");
    assert!(lines.iter().any(|(_, l)| l.starts_with("[2/3] upgrade bbbb00000002 (") && l.ends_with("Revision bbbb00000002")), "{lines:?}");
    // Each long revision is named in its turn.
    for id in ["bbbb00000002", "cccc00000003"] {
        assert!(stderr(&out).contains(&format!("still running: upgrade {id} (1")), "{}", stderr(&out));
    }
}

#[test]
fn each_command_has_its_own_help_and_usage_errors_are_short_with_a_suggestion() {
    let help = kiln(&["upgrade", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    assert!(text.contains("Upgrade to a later revision") && text.contains("--sql") && !text.contains("--purge"), "{text}");
    assert!(stdout(&kiln(&["stamp", "--help"])).contains("--purge"));
    assert_ne!(stdout(&kiln(&["history", "--help"])), stdout(&kiln(&["heads", "--help"])));
    let version = kiln(&["--version"]);
    assert_eq!(stdout(&version).trim(), format!("kiln {}", env!("CARGO_PKG_VERSION")));

    let typo = kiln(&["upgrad", "head"]);
    assert_eq!(typo.status.code(), Some(2));
    let err = stderr(&typo);
    assert!(err.contains("'upgrade'") && err.lines().count() < 10, "{err}");
    let flag = kiln(&["upgrade", "head", "--sqll"]);
    assert!(stderr(&flag).contains("--sql"), "{}", stderr(&flag));
    // An option of another command is refused, not ignored.
    let other = kiln(&["upgrade", "head", "--purge", "-m", "x"]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    // Errors as JSON with --format json: one object with a code and a message.
    let json: serde_json::Value = serde_json::from_slice(&kiln(&["--format", "json", "upgrade", "head", "--purge"]).stdout).unwrap();
    assert_eq!(json["error"]["code"], "usage");
    assert!(json["error"]["message"].as_str().unwrap().contains("--purge"), "{json}");
    let out = kiln(&["--format", "json", "--database-url", "postgres://kart:s3cret@127.0.0.1:1/app", "current"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["error"]["message"].as_str().unwrap().contains("Connection refused") && !stdout(&out).contains("s3cret"), "{json}");
    let url = fresh_db();
    client(&url)
        .batch_execute(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); INSERT INTO alembic_version VALUES ('ffffffffffff')",
        )
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&kiln(&["--format", "json", "--database-url", &url, "upgrade", "head"]).stdout).unwrap();
    assert_eq!(json["error"]["code"], "unknown-revisions", "{json}");
}

#[test]
fn alembic_authoring_options_and_verbose_listings() {
    let project = scratch("authoring");
    let dir = project.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    // Three heads on purpose: two labelled branches and a second root.
    std::fs::write(dir.join("kiln.toml"), "allow_multiple_heads = true\n").unwrap();
    let d = dir.to_str().unwrap();
    let fill = |id: &str, table: &str| {
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(id))
            .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text
            .replace(
                "-- TODO: the upgrade SQL",
                &format!("CREATE TABLE {table} (id VARCHAR(26) NOT NULL, CONSTRAINT pk_{table} PRIMARY KEY (id));"),
            )
            .replace("-- TODO: SQL that undoes the upgrade", &format!("DROP TABLE {table};"));
        std::fs::write(&file, text).unwrap();
    };
    let ok = |args: &[&str]| {
        let mut all = vec!["--dir", d];
        all.extend_from_slice(args);
        let out = kiln(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    ok(&["revision", "-m", "create workspaces", "--rev-id", "aaaa00000001", "--branch-label", "main"]);
    fill("aaaa00000001", "workspaces");
    ok(&["revision", "-m", "create users", "--rev-id", "bbbb00000002"]);
    fill("bbbb00000002", "users");
    // An id that exists, or is not an id, is refused.
    assert_eq!(kiln(&["--dir", d, "revision", "-m", "again", "--rev-id", "aaaa00000001"]).status.code(), Some(1));
    assert_eq!(kiln(&["--dir", d, "revision", "-m", "bad", "--rev-id", "no-dashes"]).status.code(), Some(1));
    // A non-head parent needs --splice; a second root needs a branch label.
    let refused = kiln(&["--dir", d, "revision", "-m", "side", "--head", "aaaa00000001"]);
    assert!(stderr(&refused).contains("--splice"), "{}", stderr(&refused));
    ok(&["revision", "-m", "side", "--head", "aaaa00000001", "--splice", "--branch-label", "side", "--rev-id", "cccc00000003"]);
    fill("cccc00000003", "teams");
    let refused = kiln(&["--dir", d, "revision", "-m", "root", "--head", "base"]);
    assert!(stderr(&refused).contains("--branch-label"), "{}", stderr(&refused));
    ok(&["revision", "-m", "audit root", "--head", "base", "--branch-label", "audit", "--rev-id", "dddd00000004"]);
    fill("dddd00000004", "audit_events");
    ok(&["revision", "-m", "needs audit", "--head", "bbbb00000002", "--depends-on", "dddd00000004", "--rev-id", "eeee00000005"]);
    fill("eeee00000005", "api_keys");
    let heads = ok(&["heads"]);
    assert_eq!(heads.lines().count(), 3, "{heads}");
    // dddd00000004 is a head, but eeee00000005 depends on it.
    let resolved = ok(&["heads", "--resolve-dependencies"]);
    assert_eq!(resolved.lines().count(), 2, "{resolved}");
    assert!(!resolved.contains("-> dddd00000004"), "{resolved}");
    let verbose = ok(&["history", "-v"]);
    assert!(verbose.contains("Rev: eeee00000005 (head)") && verbose.contains("Also depends on: dddd00000004"), "{verbose}");
    assert!(verbose.contains("Branches into: bbbb00000002, cccc00000003"), "{verbose}");
    assert!(ok(&["check"]).contains("5 revision(s) checked, 0 warning(s)"));

    let url = fresh_db();
    let quiet = ok(&["--database-url", &url, "-q", "upgrade", "heads"]);
    assert!(quiet.is_empty(), "{quiet}");
    let current = ok(&["--database-url", &url, "current", "-v"]);
    assert!(current.contains("Rev: cccc00000003 (head)") && current.contains("Path: "), "{current}");
}

/// `kiln revision` under a project's `revision_id_pattern`: `--rev-id`
/// must match it, and a generated id does, so the build accepts the file.
#[test]
fn revision_ids_follow_the_projects_pattern() {
    let dir = scratch("id-pattern").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kiln.toml"), "revision_id_pattern = \"r[0-9]{6}\"\n").unwrap();
    let d = dir.to_str().unwrap();
    let refused = kiln(&["--dir", d, "revision", "-m", "first", "--rev-id", "abcdef123456"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("does not match `revision_id_pattern = \"r[0-9]{6}\"`"), "{}", stderr(&refused));
    let made = kiln(&["--dir", d, "revision", "-m", "first"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".sql"))
        .unwrap();
    let id = file.split('_').next().unwrap();
    assert!(id.len() == 7 && id.starts_with('r') && id[1..].bytes().all(|b| b.is_ascii_digit()), "{file}");
    let ok = kiln(&["--dir", d, "revision", "-m", "second", "--rev-id", "r000002"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let heads = kiln(&["--dir", d, "heads"]);
    assert!(stdout(&heads).contains("r000002 (head)"), "{}{}", stdout(&heads), stderr(&heads));
}

/// A revision being written (the empty sections `kiln revision` leaves) does
/// not stop the commands that only read the graph; building, checking and
/// upgrading refuse it, naming the file.
#[test]
fn read_only_and_authoring_commands_work_while_a_revision_is_being_written() {
    let dir = scratch("unfinished").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let first = kiln(&["--dir", d, "revision", "-m", "create widgets", "--rev-id", "aaaa00000001"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = kiln(&["--dir", d, "revision", "-m", "create gadgets", "--rev-id", "bbbb00000002"]);
    assert!(second.status.success(), "a second revision on top of an unfinished one: {}", stderr(&second));
    for args in [&["heads"][..], &["history"], &["show", "aaaa00000001"], &["branches"]] {
        let mut all = vec!["--dir", d];
        all.extend_from_slice(args);
        let out = kiln(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let warning = stderr(&out);
        assert!(warning.contains("aaaa00000001_create_widgets.sql is unfinished: the upgrade section is empty"), "{args:?}: {warning}");
        assert!(warning.lines().count() <= 4, "one line per unfinished section, not the rendered diagnostics: {warning}");
    }
    assert!(stdout(&kiln(&["--dir", d, "heads"])).contains("bbbb00000002 (head)"));
    for args in [&["check"][..], &["upgrade", "heads", "--sql"]] {
        let mut all = vec!["--dir", d];
        all.extend_from_slice(args);
        let out = kiln(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?} refuses an unfinished revision");
        assert!(stderr(&out).contains("the upgrade section is empty"), "{args:?}: {}", stderr(&out));
    }
}

/// `kiln check --all` lists the baseline's findings without failing, even
/// with `--deny-warnings`; plain `check` does not show them.
#[test]
fn check_all_lists_the_baseline_and_never_fails_on_it() {
    let dir = scratch("baseline").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("aaaa00000001_legacy.sql"),
        "-- Legacy\n--\n-- Revision ID: aaaa00000001\n-- Revises: \n-- Create Date: 2019-03-01\n\n\
         -- kiln:upgrade\nCREATE TABLE user_account (id SERIAL PRIMARY KEY);\n\n-- kiln:downgrade\nDROP TABLE user_account;\n",
    )
    .unwrap();
    std::fs::write(dir.join("kiln.toml"), "baseline = \"aaaa00000001\"\n").unwrap();
    let d = dir.to_str().unwrap();
    let plain = kiln(&["--dir", d, "check"]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert!(
        stdout(&plain).contains("1 revision(s) checked, 0 warning(s)") && stderr(&plain).is_empty(),
        "{}{}",
        stdout(&plain),
        stderr(&plain)
    );
    let all = kiln(&["--dir", d, "check", "--all", "--deny-warnings"]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    assert!(stderr(&all).contains("warning[kiln::table-name]") && stderr(&all).contains("in the baseline"), "{}", stderr(&all));
    assert!(stdout(&all).contains("of them in the baseline"), "{}", stdout(&all));
    // Commands that read the directory run as they would on any valid history.
    let heads = kiln(&["--dir", d, "heads"]);
    assert!(heads.status.success() && stderr(&heads).is_empty(), "{}", stderr(&heads));
}

/// Lint warnings are listed where they are asked for (`check`, the build);
/// other `--dir` commands say how many in one line.
#[test]
fn lint_warnings_are_one_line_outside_check() {
    let dir = scratch("warning-count").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("aaaa00000001_users.sql"),
        "-- Users\n--\n-- Revision ID: aaaa00000001\n-- Revises: \n-- Create Date: 2026-12-02\n\n-- kiln:upgrade\n\
         CREATE TABLE users (id VARCHAR(26) NOT NULL, settings JSON, CONSTRAINT pk_users PRIMARY KEY (id));\n\n\
         -- kiln:downgrade\nDROP TABLE users;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bbbb00000002_more.sql"),
        "-- More\n--\n-- Revision ID: bbbb00000002\n-- Revises: aaaa00000001\n-- Create Date: 2026-12-02\n\n-- kiln:upgrade\n\
         ALTER TABLE users ADD COLUMN prefs JSON;\nCREATE INDEX ix_users_id ON users (id);\n\n\
         -- kiln:downgrade\nDROP INDEX ix_users_id;\nALTER TABLE users DROP COLUMN prefs;\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let check = kiln(&["--dir", d, "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let listed = stderr(&check).matches("warning[kiln::").count();
    assert!(listed >= 3, "check lists each warning: {}", stderr(&check));
    for args in [&["heads"][..], &["history"], &["upgrade", "heads", "--sql"]] {
        let mut all = vec!["--dir", d];
        all.extend_from_slice(args);
        let out = kiln(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, not the rendered warnings: {err}");
        assert!(err.contains(&format!("warning: {listed} lint warning(s) in {d}; `kiln --dir {d} check` lists them")), "{args:?}: {err}");
    }
}
