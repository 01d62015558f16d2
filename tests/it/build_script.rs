//! The build-script path end to end, in a scratch crate that uses kiln the
//! way a user would (a `build.rs` calling `kiln_core::build::migrations`,
//! and `kiln::include_migrations!()` in its code): new files are seen,
//! an unchanged tree rebuilds nothing, a broken tree fails the build with
//! kiln's diagnostics and no backtrace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn revision(id: &str, revises: &str) -> String {
    let revises: Vec<&str> = revises.split(", ").filter(|s| !s.is_empty()).collect();
    crate::pg::revision(id, &revises, "", "SELECT 1;", Some("SELECT 2;")).1
}

struct Scratch {
    dir: PathBuf,
    target: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let base = root.join("target").join("kiln-e2e");
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("migrations")).unwrap();
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n\
             [dependencies]\nkiln = {{ path = {root:?}, default-features = false }}\n\n[build-dependencies]\nkiln-core = {{ path = {core:?} }}\n",
            root = root.display().to_string(),
            core = root.join("core").display().to_string(),
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        std::fs::write(dir.join("build.rs"), "fn main() {\n    kiln_core::build::migrations(\"migrations\");\n}\n").unwrap();
        std::fs::write(
            dir.join("src/main.rs"),
            "static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();\n\
             fn main() {\n    for r in MIGRATIONS.revisions() {\n        println!(\"{}\", r.id);\n    }\n}\n",
        )
        .unwrap();
        Scratch { dir, target: base.join("target") }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join("migrations").join(file), text).unwrap();
    }

    fn cargo(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO"))
            .args(args)
            .arg("--offline")
            .env("CARGO_TARGET_DIR", &self.target)
            .env_remove("RUSTFLAGS")
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    fn build(&self) -> (bool, String) {
        let out = self.cargo(&["build", "-v"]);
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn run(&self) -> Vec<String> {
        let out = self.cargo(&["run", "-q"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

#[test]
fn a_users_build_script_embeds_validates_and_rebuilds_exactly_when_needed() {
    let s = Scratch::new("kiln_e2e_app");
    s.write("aaaa00000001_one.sql", &revision("aaaa00000001", ""));
    s.write("bbbb00000002_two.sql", &revision("bbbb00000002", "aaaa00000001"));
    let (ok, log) = s.build();
    assert!(ok, "{log}");
    assert_eq!(s.run(), ["aaaa00000001", "bbbb00000002"]);

    // Nothing changed: nothing is rebuilt.
    let (ok, log) = s.build();
    assert!(ok, "{log}");
    assert!(log.contains("Fresh kiln_e2e_app"), "{log}");
    assert!(!log.contains("Compiling kiln_e2e_app"), "an unchanged tree rebuilt the crate:\n{log}");

    // A new file is seen without touching any code.
    s.write("cccc00000003_three.sql", &revision("cccc00000003", "bbbb00000002"));
    assert!(s.build().0);
    assert_eq!(s.run(), ["aaaa00000001", "bbbb00000002", "cccc00000003"]);

    // An edit is seen too.
    s.write("cccc00000003_three.sql", &revision("cccc00000003", "bbbb00000002").replace("SELECT 1;", "SELECT 3;"));
    let (ok, log) = s.build();
    assert!(ok && log.contains("Compiling kiln_e2e_app"), "{log}");

    // A broken chain fails the build with the diagnostic, and no panic or backtrace.
    s.write("dddd00000004_four.sql", &revision("dddd00000004", "ffff00000009"));
    let (ok, log) = s.build();
    assert!(!ok);
    assert!(log.contains("error[kiln::missing-parent]: revision `dddd00000004` revises `ffff00000009`, which does not exist"), "{log}");
    assert!(log.contains("--> migrations/dddd00000004_four.sql:4:13"), "{log}");
    assert!(!log.contains("panicked") && !log.contains("RUST_BACKTRACE"), "{log}");

    // Removing the broken file makes the build pass again.
    std::fs::remove_file(s.dir.join("migrations/dddd00000004_four.sql")).unwrap();
    assert!(s.build().0);
    assert_eq!(s.run().len(), 3);

    // The schema linter runs in the same build: a warning is shown with its
    // place and the build goes on; a convention error fails it.
    let table = |name: &str| {
        crate::pg::revision(
            "dddd00000004",
            &["cccc00000003"],
            "",
            &format!("CREATE TABLE {name} (id VARCHAR(26) NOT NULL, CONSTRAINT pk_{name} PRIMARY KEY (id));"),
            Some(&format!("DROP TABLE {name};")),
        )
        .1
    };
    s.write("dddd00000004_four.sql", &table("teams"));
    s.write(
        "eeee00000005_five.sql",
        &crate::pg::revision(
            "eeee00000005",
            &["dddd00000004"],
            "",
            "CREATE INDEX ix_teams_id ON teams (id);",
            Some("DROP INDEX ix_teams_id;"),
        )
        .1,
    );
    let (ok, log) = s.build();
    assert!(ok, "{log}");
    assert!(log.contains("warning[kiln::index-concurrently]: `CREATE INDEX` on existing table `teams`"), "{log}");
    assert!(log.contains("--> migrations/eeee00000005_five.sql:8:1"), "{log}");
    s.write("dddd00000004_four.sql", &table("team"));
    let (ok, log) = s.build();
    assert!(!ok);
    assert!(log.contains("error[kiln::table-name]: table name `team` is not plural"), "{log}");
}

#[test]
fn the_macro_shows_lint_warnings_and_fails_on_lint_errors() {
    let s = Scratch::new("kiln_e2e_macro");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        s.dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"kiln_e2e_macro\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n\
             [dependencies]\nkiln = {{ path = {r:?}, default-features = false }}\nkiln-macros = {{ path = {m:?} }}\n",
            r = root.display().to_string(),
            m = root.join("macros").display().to_string()
        ),
    )
    .unwrap();
    std::fs::remove_file(s.dir.join("build.rs")).unwrap();
    std::fs::write(
        s.dir.join("src/main.rs"),
        "static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!(\"migrations\");\nfn main() {\n    println!(\"{}\", MIGRATIONS.len());\n}\n",
    )
    .unwrap();
    let fixture = root.join("tests/lint/index-concurrently/bad");
    for e in std::fs::read_dir(&fixture).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, s.dir.join("migrations").join(p.file_name().unwrap())).unwrap();
    }
    // Several warnings, in several files (each once a duplicate-item error).
    s.write(
        "c3d4e5f6a7b8_more_users_indexes.sql",
        "-- More users indexes\n--\n-- Revision ID: c3d4e5f6a7b8\n-- Revises: b2c3d4e5f6a7\n-- Create Date: 2026-11-27 10:00:00\n\n\
         -- kiln:upgrade\nCREATE INDEX ix_users_created_at ON users (created_at);\nCREATE INDEX ix_users_email_created_at ON users (email, created_at);\n\n\
         -- kiln:downgrade\nDROP INDEX ix_users_email_created_at;\nDROP INDEX ix_users_created_at;\n",
    );
    let (ok, log) = s.build();
    assert!(ok, "{log}");
    assert!(log.contains("warning[kiln::index-concurrently]: `CREATE INDEX` on existing table `users`"), "{log}");
    assert!(log.contains("--> migrations/b2c3d4e5f6a7_add_users_email_index.sql:8:1"), "{log}");
    assert!(log.contains("--> migrations/c3d4e5f6a7b8_more_users_indexes.sql:8:1"), "{log}");
    assert!(log.contains("--> migrations/c3d4e5f6a7b8_more_users_indexes.sql:9:1"), "{log}");
    assert_eq!(s.run(), ["3"]);
    // A new kiln.toml, like any new file, needs the calling file touched
    // (the macro's documented limit); from then on the expansion tracks it,
    // and raising a level there is seen without touching any code.
    std::fs::write(s.dir.join("migrations/kiln.toml"), "[lints]\nindex-concurrently = \"warn\"\n").unwrap();
    std::fs::write(s.dir.join("src/main.rs"), std::fs::read_to_string(s.dir.join("src/main.rs")).unwrap() + "\n").unwrap();
    assert!(s.build().0);
    std::fs::write(s.dir.join("migrations/kiln.toml"), "[lints]\nindex-concurrently = \"error\"\n").unwrap();
    let (ok, log) = s.build();
    assert!(!ok);
    assert!(log.contains("error[kiln::index-concurrently]"), "{log}");
}
