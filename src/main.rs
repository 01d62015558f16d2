//! The stock `kiln` command: Alembic's commands over a migrations directory
//! on disk (`--dir`, a `kiln.toml` from the current directory up, or
//! `./migrations`), checked by the same validation and lint pass as a build.
//! It embeds nothing: a self-migrating binary embeds its own set and calls
//! `kiln::cli::run` (see the `reference/` crate).

fn main() {
    std::process::exit(kiln::cli::run_dir(std::env::args().skip(1)));
}
