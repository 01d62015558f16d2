//! Interop with the real Alembic (1.20.1, installed from PyPI into target/
//! on first use): a database Alembic upgraded from the same revisions
//! continues under kiln, and Alembic takes it back afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pg::{client, cluster, fresh_db, versions};

use kartograph::MIGRATIONS as REFERENCE;

/// A Python path under target/ where `check` runs, with `packages`
/// installed there by pip on first use.
fn pip_target(dir: &str, check: &str, packages: &[&str]) -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(dir);
    let probe = |path: &Path| Command::new("python3").args(["-c", check]).env("PYTHONPATH", path).status().is_ok_and(|s| s.success());
    if !probe(&target) {
        let ok = Command::new("python3")
            // `--break-system-packages` lets a Debian-managed python3 install into target/ too.
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--break-system-packages", "--target"])
            .arg(&target)
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && probe(&target), "cannot install {packages:?} with pip");
    }
    target
}

/// A Python path where `import alembic, psycopg2` works.
fn python_path() -> PathBuf {
    pip_target(
        "python-alembic",
        "import alembic, psycopg2; assert alembic.__version__ == '1.20.1'",
        &["alembic==1.20.1", "psycopg2-binary"],
    )
}

fn py_str(s: &str) -> String {
    format!("\"\"\"{}\"\"\"", s.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\""))
}

/// An `alembic.ini` and an `env.py` in `script` that connects to
/// `ALEMBIC_URL` (or, with `--sql`, renders for it), with the revisions in
/// `versions` (default `script/versions`).
fn alembic_ini(script: &Path, versions: Option<&Path>) -> PathBuf {
    let locations = versions.map_or(String::new(), |v| format!("version_locations = {}\n", v.display()));
    let ini = script.join("alembic.ini");
    std::fs::write(
        &ini,
        format!(
            "[alembic]\nscript_location = {}\n{locations}\n[loggers]\nkeys = root\n[handlers]\nkeys =\n[formatters]\nkeys =\n[logger_root]\nlevel = WARN\nhandlers =\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        script.join("env.py"),
        "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n\
         if context.is_offline_mode():\n    context.configure(url=os.environ['ALEMBIC_URL'], literal_binds=True)\n    \
         with context.begin_transaction():\n        context.run_migrations()\n\
         else:\n    engine = create_engine(os.environ['ALEMBIC_URL'])\n    \
         with engine.connect() as connection:\n        context.configure(connection=connection, target_metadata=None)\n        \
         with context.begin_transaction():\n            context.run_migrations()\n",
    )
    .unwrap();
    ini
}

/// An Alembic environment whose scripts run the same SQL as kiln's revisions.
fn alembic_env(root: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("versions")).unwrap();
    alembic_ini(root, None);
    std::fs::write(root.join("script.py.mako"), "").unwrap();
    for rev in REFERENCE.revisions() {
        let down = match rev.down_revisions {
            [] => "None".to_string(),
            [one] => format!("'{one}'"),
            many => format!("({})", many.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", ")),
        };
        let body = |sql: &str| {
            if sql.trim().is_empty() {
                "    pass\n".to_string()
            } else if rev.transactional {
                format!("    op.execute({})\n", py_str(sql))
            } else {
                format!("    with op.get_context().autocommit_block():\n        op.execute({})\n", py_str(sql))
            }
        };
        let script = format!(
            "from alembic import op\nrevision = '{id}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\
             def upgrade():\n{up}\ndef downgrade():\n{down_body}",
            id = rev.id,
            up = body(rev.upgrade_sql()),
            down_body = body(rev.downgrade_sql().unwrap_or("")),
        );
        std::fs::write(root.join("versions").join(format!("{}_m.py", rev.id)), script).unwrap();
    }
    root.join("alembic.ini")
}

fn alembic(ini: &Path, pythonpath: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(["-m", "alembic", "-c"])
        .arg(ini)
        .args(args)
        .env("PYTHONPATH", pythonpath)
        .env("ALEMBIC_URL", url.replacen("postgres://", "postgresql+psycopg2://", 1))
        .output()
        .unwrap();
    assert!(out.status.success(), "alembic {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_database_alembic_upgraded_continues_under_kiln_and_back() {
    let pythonpath = python_path();
    let ini = alembic_env(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/alembic-env-{}", std::process::id())));
    let url = fresh_db();
    alembic(&ini, &pythonpath, &url, &["upgrade", "a1b2c3d4e5f6"]);
    let mut c = client(&url);
    assert_eq!(versions(&mut c), ["a1b2c3d4e5f6"]);
    // kiln takes over: only the rest runs.
    let m = kiln::Migrator::new(REFERENCE);
    let outcome = m.upgrade(&mut c, "head").unwrap();
    let ran: Vec<&str> = outcome.applied.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(ran, ["e4f5a6b7c8d9", "b7e2d91c4a05", "f0e1d2c3b4a5"]);
    assert!(m.check(&mut c).unwrap());
    // Alembic reads kiln's version table and downgrades through the merge.
    assert!(alembic(&ini, &pythonpath, &url, &["current"]).contains("f0e1d2c3b4a5 (head)"));
    alembic(&ini, &pythonpath, &url, &["downgrade", "a1b2c3d4e5f6"]);
    assert_eq!(versions(&mut c), ["a1b2c3d4e5f6"]);
    // And kiln carries on again; the history it kept shows the gap honestly.
    let again = m.upgrade(&mut c, "head").unwrap();
    assert_eq!(again.applied.len(), 3);
    let _ = cluster();
}

/// The `kiln` binary with `pythonpath` as Python's path.
fn kiln_with(pythonpath: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env("PYTHONPATH", pythonpath).output().unwrap()
}

/// `kiln import alembic <versions>` into a fresh directory under target/:
/// it must report `revisions` imported, `need_person` of them needing a
/// person (exit 4). Returns the directory and the report.
fn import(name: &str, pythonpath: &Path, versions: &Path, revisions: usize, need_person: usize) -> (PathBuf, String) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/kiln-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = kiln_with(pythonpath, &["import", "alembic", versions.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&run.stdout).into_owned();
    assert_eq!(run.status.code(), Some(kiln::cli::EXIT_NEEDS_PERSON), "{report}{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        report.contains(&format!("imported {revisions} revision(s)")) && report.contains(&format!("{need_person} need a person")),
        "{report}"
    );
    (out, report)
}

/// A Python path with JupyterHub 6.1.1 (BSD-3-Clause) and Alembic 1.20.1:
/// a real Alembic history whose revisions import their application.
fn jupyterhub_path() -> PathBuf {
    pip_target(
        "python-jupyterhub",
        "import jupyterhub.orm, alembic, psycopg2; assert alembic.__version__ == '1.20.1'",
        &["jupyterhub==6.1.1", "alembic==1.20.1", "psycopg2-binary"],
    )
}

/// `kiln import alembic` on JupyterHub's 19 revisions, as a team moving off
/// Alembic would run it: every revision keeps its id, parents, message,
/// docstring and date; the 8 that Alembic renders offline get its SQL, the
/// 11 that inspect the live database are written unfinished and reported;
/// the output is never overwritten. Then the real Alembic takes a database
/// back online to a revision halfway, a person stands in for the unfinished
/// revisions below it, and kiln continues to head, running only the two
/// revisions above it: the schema equals Alembic's at head.
#[test]
fn importing_jupyterhubs_alembic_history() {
    let pythonpath = jupyterhub_path();
    let versions = pythonpath.join("jupyterhub/alembic/versions");
    let kiln = |args: &[&str]| kiln_with(&pythonpath, args);
    let (out, _) = import("jupyterhub", &pythonpath, &versions, 19, 11);

    // Each Alembic file's identity, read from its Python source, is in the kiln file.
    let mut files = 0;
    for entry in std::fs::read_dir(&versions).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "py") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let value = |key: &str| {
            source.lines().find_map(|l| l.strip_prefix(&format!("{key} = "))).map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        };
        let id = value("revision").unwrap();
        let down = value("down_revision").filter(|d| d != "None").unwrap_or_default();
        let kiln_file = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&id))
            .unwrap();
        let text = std::fs::read_to_string(&kiln_file).unwrap();
        assert!(text.contains(&format!("-- Revision ID: {id}\n-- Revises: {down}\n")), "{}:\n{text}", kiln_file.display());
        let date = source.lines().find_map(|l| l.strip_prefix("Create Date: ")).unwrap();
        assert!(text.contains(&format!("-- Create Date: {}\n", date.trim())), "{text}");
        files += 1;
    }
    assert_eq!(files, 19);
    // Docstring paragraphs become the description; `show` prints them as Alembic does.
    let show = kiln(&["--dir", out.to_str().unwrap(), "show", "3ec6993fe20c"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("    - encrypted auth_state"), "{}", String::from_utf8_lossy(&show.stdout));
    // Never overwritten.
    let again = kiln(&["import", "alembic", versions.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    // The unfinished revisions fail the check, naming themselves.
    let check = kiln(&["--dir", out.to_str().unwrap(), "check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stderr).contains("afd65840b69e_pkce.sql"), "{}", String::from_utf8_lossy(&check.stderr));

    // The real Alembic, online, with JupyterHub's own revisions: halfway, and to head.
    let script = out.with_extension("alembic");
    std::fs::create_dir_all(&script).unwrap();
    let ini = alembic_ini(&script, Some(&versions));
    // JupyterHub creates a new database from its models and stamps it;
    // its revisions upgrade older ones. So both databases start from the
    // models at head, and the real Alembic takes one back down, online, to
    // the last revision it cannot render offline.
    let (halfway, full) = (fresh_db(), fresh_db());
    for url in [&halfway, &full] {
        let created = Command::new("python3")
            .args(["-c", "import os, sqlalchemy; from jupyterhub import orm; orm.Base.metadata.create_all(sqlalchemy.create_engine(os.environ['ALEMBIC_URL']))"])
            .env("PYTHONPATH", &pythonpath)
            .env("ALEMBIC_URL", url.replacen("postgres://", "postgresql+psycopg2://", 1))
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        alembic(&ini, &pythonpath, url, &["stamp", "head"]);
    }
    // Both go down to the same revision; the real Alembic takes `full` back
    // up itself, kiln takes `halfway`: columns the downgrade dropped come
    // back at the end on both, so even column order must agree.
    for url in [&halfway, &full] {
        alembic(&ini, &pythonpath, url, &["downgrade", "afd65840b69e"]);
    }
    alembic(&ini, &pythonpath, &full, &["upgrade", "head"]);
    assert_eq!(crate::pg::versions(&mut client(&halfway)), ["afd65840b69e"]);
    // A person finishes the revisions below the database's current one (they never run again).
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("-- Write its SQL here.") {
            std::fs::write(&path, text.replace("-- Write its SQL here.\n", "-- (already applied everywhere)\nSELECT 1;\n")).unwrap();
        }
    }
    let up = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--dir", out.to_str().unwrap(), "--database-url", &halfway, "upgrade", "heads"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "{text}{}", String::from_utf8_lossy(&up.stderr));
    assert!(
        text.contains("upgrade ff1860e38070") && text.contains("upgrade f460b0348206") && !text.contains("upgrade afd65840b69e"),
        "{text}"
    );
    crate::pg::assert_same_schema(&halfway, &full, "kiln's continuation reaches the schema Alembic reaches");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&script);
}

/// A Python path with CKAN 2.12.0's migrations (AGPL-3.0, downloaded from
/// PyPI into target/ at test time, never copied into this repository):
/// 109 PostgreSQL-only revisions, from an empty database to CKAN's schema.
/// Its revisions import only `ckan.migration`, so CKAN is installed
/// without its dependencies; Alembic comes from [`python_path`].
/// Returns the Python path and CKAN's versions directory.
fn ckan_path() -> (PathBuf, PathBuf) {
    let ckan = pip_target("python-ckan", "import ckan.migration; assert ckan.__version__ == '2.12.0'", &["--no-deps", "ckan==2.12.0"]);
    let scripts = ckan.join("ckan/migration/versions");
    (PathBuf::from(std::env::join_paths([ckan, python_path()]).unwrap()), scripts)
}

/// `psql` applies a script as a DBA would, stopping at the first error.
fn psql(url: &str, script: &str) {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql is on PATH");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `kiln import alembic` on CKAN's real history, which builds its schema
/// from an empty database by migrations alone: the import keeps all 109
/// revisions and reports the two that Alembic cannot render offline; once a
/// person writes those, the build's checks pass with the baseline the
/// import wrote. `kiln upgrade head` on an empty database then reaches the
/// schema that the real Alembic's own offline SQL (`upgrade --sql`) reaches
/// through psql, and a database the real Alembic migrated online to
/// revision 055 is continued by kiln, running only the 54 revisions above it.
/// The person's SQL for CKAN's 083 upgrade: what CKAN runs when `related` is empty.
const CKAN_083: &str = "DROP TABLE related_dataset;\nDROP TABLE related;\n";

/// Writes what the import left to a person in CKAN's history: 083's
/// upgrade, and a no-op for 038's downgrade.
fn write_ckans_person_sql(out: &Path) {
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("-- Write its SQL here.") {
            let sql = if text.contains("Revision ID: f98d8fa2a7f7") { CKAN_083 } else { "SELECT 1;\n" };
            std::fs::write(&path, text.replacen("-- Write its SQL here.\n", sql, 1)).unwrap();
        }
    }
}

#[test]
fn importing_ckans_alembic_history_from_an_empty_database() {
    let (pythonpath, scripts) = ckan_path();
    let kiln = |args: &[&str]| kiln_with(&pythonpath, args);
    let (out, report) = import("ckan", &pythonpath, &scripts, 109, 2);
    // 083 counts rows through the connection before it drops two tables;
    // 038's downgrade trips over CKAN's own code offline.
    assert!(report.contains("f98d8fa2a7f7_083_remove_related_items.sql: 0 upgrade"), "{report}");
    assert!(report.contains("fd6622e3d964_038_delete_migration_tables.sql: 4 upgrade and 0 downgrade"), "{report}");
    let toml = std::fs::read_to_string(out.join("kiln.toml")).unwrap();
    assert!(toml.contains("baseline = \"9445ce34fc23\""), "{toml}");

    write_ckans_person_sql(&out);
    let check = kiln(&["--dir", out.to_str().unwrap(), "check"]);
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));

    // kiln, from an empty database.
    let by_kiln = fresh_db();
    let up = kiln(&["--dir", out.to_str().unwrap(), "--database-url", &by_kiln, "upgrade", "head"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));

    // The real Alembic's offline SQL, through psql; 083 is the person's SQL
    // there too, since Alembic cannot render it either.
    let script = out.with_extension("alembic");
    std::fs::create_dir_all(&script).unwrap();
    let ini = alembic_ini(&script, Some(&scripts));
    let by_psql = fresh_db();
    let before = alembic(&ini, &pythonpath, &by_psql, &["upgrade", "8ea886d0ede4", "--sql"]);
    let after = alembic(&ini, &pythonpath, &by_psql, &["upgrade", "f98d8fa2a7f7:head", "--sql"]);
    assert!(before.contains("CREATE TABLE package (") && after.contains("UPDATE alembic_version"), "{before}");
    psql(&by_psql, &before);
    psql(&by_psql, &format!("BEGIN;\n{CKAN_083}UPDATE alembic_version SET version_num='f98d8fa2a7f7';\nCOMMIT;\n"));
    psql(&by_psql, &after);
    let objects = crate::pg::assert_same_schema(&by_kiln, &by_psql, "kiln's import reaches the schema Alembic's offline SQL reaches");
    assert!(objects > 100, "CKAN's schema is large: {objects} objects");

    // The real Alembic online to 055, then kiln: nothing below runs again.
    let halfway = fresh_db();
    alembic(&ini, &pythonpath, &halfway, &["upgrade", "048f7db947bf"]);
    let up = kiln(&["--dir", out.to_str().unwrap(), "--database-url", &halfway, "upgrade", "head"]);
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "{text}{}", String::from_utf8_lossy(&up.stderr));
    assert!(text.contains("[1/54] upgrade 11af3215ae89 ") && text.contains("[54/54] upgrade 9445ce34fc23 "), "{text}");
    assert!(!text.contains("upgrade 048f7db947bf"), "{text}");
    crate::pg::assert_same_schema(&halfway, &by_kiln, "kiln's continuation reaches the same schema");
    assert_eq!(versions(&mut client(&halfway)), ["9445ce34fc23"]);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&script);
}

/// `kiln revision --autogenerate` on a real schema: CKAN's history cut at
/// a revision, and `pg_dump` of the database its whole history builds as
/// the declared schema. The generated revisions take a database at the cut
/// to the head's catalog (column order aside), and their downgrades back
/// to the cut's.
#[test]
fn autogenerate_catches_ckans_history_up_from_a_cut() {
    let (pythonpath, scripts) = ckan_path();
    let kiln = |args: &[&str]| kiln_with(&pythonpath, args);
    let (full, _) = import("ckan-autogen", &pythonpath, &scripts, 109, 2);
    write_ckans_person_sql(&full);
    let head = fresh_db();
    let up = kiln(&["--dir", full.to_str().unwrap(), "--database-url", &head, "upgrade", "head"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let dump = Command::new("pg_dump").args(["--schema-only", "--no-owner"]).arg(&head).output().unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let set = kiln_core::load_dir(&full, "migrations").unwrap_or_else(|r| panic!("{}", r.render()));
    let snapshot = |url: &str| kiln::catalog::Snapshot::of(&mut client(url), &kiln::Tables::default()).unwrap().without_column_order();
    // 001, 030, 055, 069 and 092: each cut keeps its ancestors.
    for cut in ["103676e0a497", "b16cbf164c8a", "048f7db947bf", "e7524c675cdb", "01afcadbd8c0"] {
        let keep = set.graph.applied_with(&[set.graph.index_of(cut).unwrap()]);
        let dir = full.with_file_name(format!("{}-{cut}", full.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (r, rev) in set.revisions.iter().enumerate().filter(|(r, _)| keep[*r]) {
            std::fs::copy(rev.path.as_ref().unwrap(), dir.join(&rev.file_name)).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        // CKAN's names and types are not Kartograph's: its team would turn those rules off
        // (its head even has `tag.vocabulary_id varchar(100)` referencing `vocabulary.id text`).
        let lints = ["table-name", "index-name", "foreign-key-name", "unique-name", "timestamptz", "ulid-primary-key", "foreign-key-type"]
            .map(|r| format!("{r} = \"allow\"\n"))
            .concat();
        std::fs::write(dir.join("kiln.toml"), format!("baseline = \"{cut}\"\nschema = \"schema.sql\"\n\n[lints]\n{lints}")).unwrap();
        std::fs::write(dir.join("schema.sql"), &dump.stdout).unwrap();
        let gen = kiln(&["--dir", dir.to_str().unwrap(), "revision", "--autogenerate", "-m", "catch up"]);
        let said = format!("{}{}", String::from_utf8_lossy(&gen.stdout), String::from_utf8_lossy(&gen.stderr));
        assert!(gen.status.success(), "from {cut}: {said}");

        let db = fresh_db();
        let up = kiln(&["--dir", dir.to_str().unwrap(), "--database-url", &db, "upgrade", "heads"]);
        assert!(up.status.success(), "from {cut}: {}", String::from_utf8_lossy(&up.stderr));
        if let Some(d) = snapshot(&db).diff(&snapshot(&head), 30) {
            panic!("from {cut}: the upgraded catalog is not CKAN's head (- upgraded, + head):\n{d}\n{said}");
        }
        let down = kiln(&["--dir", dir.to_str().unwrap(), "--database-url", &db, "downgrade", cut]);
        assert!(down.status.success(), "back to {cut}: {}", String::from_utf8_lossy(&down.stderr));
        let at_cut = fresh_db();
        let up = kiln(&["--dir", dir.to_str().unwrap(), "--database-url", &at_cut, "upgrade", cut]);
        assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
        if let Some(d) = snapshot(&db).diff(&snapshot(&at_cut), 30) {
            panic!("back to {cut}: the catalog is not the cut's (- downgraded, + {cut}):\n{d}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&full);
}
