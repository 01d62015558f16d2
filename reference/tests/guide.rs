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

/// The fenced block of `docs/deploying.md` that follows `marker` (the
/// opening fence's info string, such as `dockerfile`), the `nth` one.
fn fenced(guide: &str, marker: &str, nth: usize) -> String {
    let block = guide.split(&format!("```{marker}\n")).nth(nth + 1).unwrap_or_else(|| panic!("block {nth} of `{marker}` in the guide"));
    block[..block.find("```").unwrap()].to_string()
}

/// The `key: [...]` flow sequence of a YAML block as words (the guide
/// writes them in JSON's syntax, which YAML reads the same way).
fn yaml_list(yaml: &str, key: &str) -> Vec<String> {
    let line = yaml.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}:"))).unwrap_or_else(|| panic!("`{key}:` in\n{yaml}"));
    let line = line.trim().trim_start_matches('[').trim_end_matches(']');
    line.split(',').map(|w| w.trim().trim_matches('"').to_string()).collect()
}

/// A Docker engine does not run here, so the image is built the way its
/// Dockerfile says, stage by stage, on this machine (Debian bookworm, as
/// the image): the build stage's `RUN` as written; the shipped binary's
/// shared libraries each come from a package the runtime stage has
/// (bookworm-slim's libc and libgcc, or what its `apt-get install` adds);
/// and the `ENTRYPOINT`, with the Job's `args` and then the readiness
/// probe's `command`, runs against a fresh database, as the image's user
/// when the test runs as root. `docker build` itself is not run.
#[test]
fn the_dockerfile_and_the_kubernetes_commands_run_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let guide = std::fs::read_to_string(root.join("docs/deploying.md")).unwrap();
    let dockerfile = fenced(&guide, "dockerfile", 0);
    let lines: Vec<&str> = dockerfile.lines().filter(|l| !l.trim().is_empty()).collect();
    let stages: Vec<&[&str]> = {
        let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("FROM ")).map(|(i, _)| i).collect();
        starts.iter().enumerate().map(|(k, &s)| &lines[s..*starts.get(k + 1).unwrap_or(&lines.len())]).collect()
    };
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage:\n{dockerfile}");

    // The build image's toolchain is at least the workspace's rust-version.
    let image = stages[0][0].split_whitespace().nth(1).unwrap();
    let version = image.strip_prefix("rust:").and_then(|v| v.split('-').next()).expect("a rust: image");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let wanted = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    let parse = |v: &str| v.split('.').map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>();
    assert!(parse(version) >= parse(wanted), "the build image's Rust {version} is older than rust-version {wanted}");

    // `COPY . .` sends the context: .dockerignore keeps the target directory out of it.
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect("a .dockerignore beside `COPY . .`");
    assert!(ignore.lines().any(|l| l.trim().trim_matches('/') == "target"), "{ignore}");

    // The build stage's commands, with the build's target directory kept apart from the test's own.
    let target = root.join("target/kiln-e2e/target");
    for run in stages[0].iter().filter_map(|l| l.strip_prefix("RUN ")) {
        let out = Command::new("sh").arg("-c").arg(run).current_dir(&root).env("CARGO_TARGET_DIR", &target).output().unwrap();
        assert!(out.status.success(), "`RUN {run}`:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let copy = stages[1].iter().find_map(|l| l.strip_prefix("COPY --from=build ")).expect("the runtime stage copies the binary");
    let from = copy.split_whitespace().next().unwrap();
    let binary = target.join(from.strip_prefix("/src/target/").expect("from the build stage's target directory"));
    assert!(binary.is_file(), "{} was not built", binary.display());

    // Every shared library the binary loads comes with the runtime image.
    let mut packages: Vec<String> = vec!["libc6".into(), "libgcc-s1".into()];
    let install = stages[1].iter().find_map(|l| l.split("apt-get install").nth(1)).expect("the runtime stage's apt-get install");
    let install = install.split("&&").next().unwrap();
    packages.extend(install.split_whitespace().filter(|w| !w.starts_with('-')).map(str::to_string));
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    for path in ldd.lines().filter_map(|l| l.split("=> ").nth(1)).map(|r| r.split_whitespace().next().unwrap()) {
        // dpkg records a library under /lib or /usr/lib, whichever its package ships (usrmerge).
        let usr = format!("/usr{path}");
        let owner = [path, usr.as_str(), path.trim_start_matches("/usr")]
            .iter()
            .map(|p| Command::new("dpkg").args(["-S", p]).output().unwrap())
            .find(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let owner = owner.split(':').next().unwrap_or("").trim();
        assert!(
            packages.iter().any(|p| p == owner),
            "{path} comes from `{owner}`, which the runtime stage does not install ({packages:?})"
        );
    }
    let entrypoint = stages[1].iter().find_map(|l| l.strip_prefix("ENTRYPOINT ")).expect("an ENTRYPOINT");
    assert_eq!(entrypoint.trim(), format!("[\"{}\"]", binary.file_name().unwrap().to_string_lossy()));
    let user = stages[1].iter().find_map(|l| l.strip_prefix("USER ")).map(str::trim);

    let cluster = kiln::cluster::Cluster::start().unwrap();
    let session = kiln::cli::connect(&cluster.url("postgres")).unwrap();
    session.block_on(session.client().batch_execute("CREATE DATABASE image_test")).unwrap();
    drop(session);
    let url = cluster.url("image_test");
    let image = |args: &[String]| {
        let mut command = match user {
            // As the image's user: a uid with no passwd entry, as in the image.
            Some(uid) if is_root() => {
                let mut c = Command::new("setpriv");
                c.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()]).arg(&binary);
                c
            }
            _ => Command::new(&binary),
        };
        let out = command.args(args).env("DATABASE_URL", &url).current_dir("/").output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let job = fenced(&guide, "yaml", 0);
    let probe = fenced(&guide, "yaml", 1);
    assert!(job.contains("kind: Job") && job.contains("name: DATABASE_URL"), "{job}");
    let command = yaml_list(&probe, "command");
    assert_eq!(command[0], binary.file_name().unwrap().to_string_lossy(), "the probe runs the image's binary");
    let (code, text) = image(&command[1..]);
    assert_eq!(code, Some(3), "the probe before the Job: not ready, revisions pending\n{text}");
    let (code, text) = image(&yaml_list(&job, "args"));
    assert_eq!(code, Some(0), "the Job\n{text}");
    assert!(text.contains("upgrade f0e1d2c3b4a5"), "{text}");
    let (code, text) = image(&command[1..]);
    assert_eq!(code, Some(0), "the probe after the Job\n{text}");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `docs/testing.md`: each Rust block is a test of `tests/migrations.rs`,
/// word for word, and the features its `Cargo.toml` block names are kiln's.
#[test]
fn the_testing_guide_quotes_tests_that_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/testing.md")).unwrap();
    let tests = std::fs::read_to_string(root.join("reference/tests/migrations.rs")).unwrap();
    let mut blocks = 0;
    for n in 0.. {
        let Some(block) = guide.split("```rust\n").nth(n + 1) else { break };
        let block = &block[..block.find("```").unwrap()];
        assert!(tests.contains(block), "not in reference/tests/migrations.rs:\n{block}");
        blocks += 1;
    }
    assert_eq!(blocks, 5, "the guide's Rust blocks were found");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let features = &manifest[manifest.find("[features]").unwrap()..];
    let toml = fenced(&guide, "toml", 0);
    let named = toml.split("features = [").nth(1).and_then(|s| s.split(']').next()).unwrap();
    for f in named.split(',').map(|f| f.trim().trim_matches('"')) {
        assert!(features.lines().any(|l| l.starts_with(&format!("{f} = "))), "kiln has no feature `{f}`");
    }
}
