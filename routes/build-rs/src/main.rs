//! The build.rs route: a service that migrates at startup, synchronously.

static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let outcome = kiln::Migrator::new(MIGRATIONS).migrate(&mut client)?;
    println!("applied {} revision(s); now at {}", outcome.applied.len(), outcome.after.join(", "));
    Ok(())
}
