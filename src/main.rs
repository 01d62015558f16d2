//! The `kiln` binary: Kartograph's reference schema, validated at build time
//! and embedded, with the whole `kiln` command line. Without a command it runs
//! the main job: upgrade to head (against `DATABASE_URL`, or a throwaway local
//! cluster when none is set).

static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();

fn main() {
    std::process::exit(kiln::cli::run(Some(MIGRATIONS), std::env::args().skip(1)));
}
