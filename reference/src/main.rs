//! `kartograph`: Kartograph's reference schema, validated at build time and
//! embedded, with kiln's whole command line over it (`kartograph history`,
//! `kartograph upgrade head`, ...).
//!
//! Without a command it runs kiln's main job: upgrade to head against
//! `DATABASE_URL` or, when none is set, a throwaway local cluster (`initdb`
//! and `pg_ctl` from `PATH`, as the `postgres` user when run as root); print
//! each revision applied and the resulting tables; stop the cluster.

use kartograph::MIGRATIONS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        std::process::exit(kiln::cli::run(MIGRATIONS, args));
    }
    if let Err(e) = main_job() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn main_job() -> Result<(), String> {
    let mut cluster = None;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            println!("no DATABASE_URL: starting a throwaway PostgreSQL cluster");
            let c = kiln::cluster::Cluster::start()?;
            println!("cluster at 127.0.0.1:{} in {}", c.port(), c.dir().display());
            let url = c.url("postgres");
            cluster = Some(c);
            url
        }
    };
    println!("upgrading {} to head ({} revisions embedded)", kiln::redact::redact_url(&url), MIGRATIONS.len());
    let code = kiln::cli::run(MIGRATIONS, ["--database-url".to_string(), url.clone(), "upgrade".into(), "heads".into()]);
    if code != 0 {
        return Err(format!("the upgrade failed (exit {code})"));
    }
    let session = kiln::cli::connect(&url)?;
    let rows = session
        .block_on(session.client().query(
            "SELECT table_name, (SELECT count(*) FROM information_schema.columns c \
             WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name) \
             FROM information_schema.tables t WHERE table_schema = current_schema() ORDER BY table_name",
            &[],
        ))
        .map_err(|e| e.to_string())?;
    println!("tables:");
    for row in rows {
        let (name, columns): (String, i64) = (row.get(0), row.get(1));
        println!("  {name} ({columns} columns)");
    }
    drop(session);
    if let Some(mut c) = cluster {
        c.stop();
        println!("cluster stopped");
    }
    Ok(())
}
