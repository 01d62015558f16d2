//! A user's self-migrating binary in a few lines: its own embedded
//! migrations (here through `embed_migrations!`, no build script) and kiln's
//! command line over them (`app upgrade head`, `app check`, `app history`, ...).
//!
//! `cargo run --example app -- history`

static MIGRATIONS: kiln::Migrations = kiln::embed_migrations!("tests/ui/fixtures/valid");

fn main() {
    std::process::exit(kiln::cli::run(MIGRATIONS, std::env::args().skip(1)));
}
