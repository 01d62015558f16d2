//! The macro route: no build script, the same checks at compile time.

static MIGRATIONS: kiln::Migrations = kiln::embed_migrations!("migrations");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let outcome = kiln::Migrator::new(MIGRATIONS).migrate(&mut client)?;
    println!("applied {} revision(s); now at {}", outcome.applied.len(), outcome.after.join(", "));
    Ok(())
}
