//! Runs every shell command of `docs/deploying.md`, in order, with
//! `kartograph` against a throwaway PostgreSQL: each must exit 0, or with
//! the code its comment names (`exit 3`).

use std::process::Command;

#[test]
fn the_deployment_guide_commands_run_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/deploying.md")).unwrap();
    let cluster = kiln::cluster::Cluster::start().unwrap();
    let url = cluster.url("postgres");
    let mut ran = 0;
    for block in guide.split("```sh\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            let (command, comment) = line.split_once('#').unwrap_or((line, ""));
            let want =
                comment.split_whitespace().skip_while(|w| *w != "exit").nth(1).and_then(|c| c.trim_matches(',').parse().ok()).unwrap_or(0);
            let words: Vec<&str> = command.split_whitespace().collect();
            assert_eq!(words[0], "kartograph", "{line}");
            let out = Command::new(env!("CARGO_BIN_EXE_kartograph")).args(&words[1..]).env("DATABASE_URL", &url).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(want),
                "`{line}`:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 10, "the guide's commands were found ({ran})");
}

/// The README's main job: no command and no `DATABASE_URL` start a
/// throwaway cluster, upgrade it to head, list the tables and stop it.
#[test]
fn the_main_job_upgrades_a_throwaway_cluster_and_stops_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_kartograph")).env_remove("DATABASE_URL").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("[7/7] upgrade f0e1d2c3b4a5") && text.contains("now at f0e1d2c3b4a5"), "{text}");
    assert!(text.contains("  api_keys (8 columns)") && text.trim_end().ends_with("cluster stopped"), "{text}");
}
