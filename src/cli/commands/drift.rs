//! `kiln diff`: live drift. The database's schema against the one its
//! version rows say it should have, built in a scratch database.

use crate::catalog::{Change, Drift};
use crate::cli::args::Args;
use crate::cli::session::{connect_with, Session};
use crate::cli::{Failure, EXIT_DRIFT, EXIT_OK};
use crate::cluster::{with_database, Cluster};
use crate::offline::{json_list, json_string};
use crate::tokio::AsyncConn;
use crate::Migrator;

/// Where the expected schema is built: a throwaway cluster, or a database
/// kiln creates on `--scratch-url`'s server and drops afterwards.
enum Scratch {
    /// Held for its drop, which stops and removes the cluster.
    Cluster(#[allow(dead_code)] Cluster),
    Created {
        admin: Session,
        name: String,
    },
}

impl Scratch {
    fn new(args: &Args) -> Result<(Scratch, String), Failure> {
        match &args.scratch_url {
            Some(url) => {
                let admin = connect_with(url, args.connect_timeout)?;
                let name = format!("kiln_diff_{}", std::process::id());
                for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
                    admin
                        .block_on(admin.client().batch_execute(&sql))
                        .map_err(|e| format!("cannot create the scratch database {name}: {}", crate::conn::from_pg(&e)))?;
                }
                Ok((Scratch::Created { admin, name: name.clone() }, with_database(url, &name)))
            }
            None => {
                let cluster = Cluster::start().map_err(|e| {
                    format!(
                        "kiln diff builds the expected schema in a throwaway PostgreSQL, which did not start: {e}\n\
                         help: pass --scratch-url with a server (same major version) where kiln may create a database"
                    )
                })?;
                let url = cluster.url("postgres");
                Ok((Scratch::Cluster(cluster), url))
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Scratch::Created { admin, name } = self {
            let _ = admin.block_on(admin.client().batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
        }
    }
}

pub(crate) fn diff(migrator: &Migrator, session: &Session, args: &Args) -> Result<i32, Failure> {
    let current = session.current(migrator)?;
    migrator.check_known(&current)?;
    let actual = session.block_on(migrator.live_schema_on(&mut AsyncConn::new(session.client())))?;
    let (scratch, url) = Scratch::new(args)?;
    let expected = {
        let on = connect_with(&url, args.connect_timeout)?;
        let major = |s: &Session| {
            s.block_on(s.client().query_one("SELECT current_setting('server_version_num')::int / 10000", &[]))
                .ok()
                .map(|r| r.get::<_, i32>(0))
        };
        if let (Some(live), Some(here)) = (major(session), major(&on)) {
            if live != here && !args.quiet {
                eprintln!(
                    "warning: the database runs PostgreSQL {live} and the scratch server {here}: definitions may be written differently"
                );
            }
        }
        on.block_on(migrator.expected_schema_on(&mut AsyncConn::new(on.client()), &current))?
    };
    drop(scratch);
    let drift = Drift::new(current, &expected, &actual);
    let at = if drift.current.is_empty() { "base".to_string() } else { drift.current.join(", ") };
    if args.json {
        let objects: Vec<String> = drift
            .differences
            .iter()
            .map(|d| {
                let (change, lines) = match &d.change {
                    Change::Missing => ("missing", Vec::new()),
                    Change::LeftOver => ("added", Vec::new()),
                    Change::Changed(lines) => ("changed", lines.iter().map(|(m, l)| format!("{m} {l}")).collect()),
                };
                format!("{{\"object\":{},\"change\":\"{change}\",\"lines\":{}}}", json_string(&d.key), json_list(&lines))
            })
            .collect();
        println!("{{\"current\":{},\"drift\":[{}]}}", json_list(&drift.current), objects.join(","));
    } else if let Some(text) = drift.render(50) {
        println!(
            "the database differs from the schema its version rows ({at}) give, in {} object(s) (- expected, + in the database):\n{text}",
            drift.differences.len()
        );
    } else if !args.quiet {
        println!("the database has exactly the schema its version rows ({at}) give");
    }
    Ok(if drift.is_clean() { EXIT_OK } else { EXIT_DRIFT })
}
