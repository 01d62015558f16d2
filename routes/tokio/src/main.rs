//! The tokio route: the asynchronous driver on a tokio runtime.

static MIGRATIONS: kiln::Migrations = kiln::embed_migrations!("migrations");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let outcome = kiln::Migrator::new(MIGRATIONS).migrate_async(&client).await?;
    println!("applied {} revision(s); now at {}", outcome.applied.len(), outcome.after.join(", "));
    Ok(())
}
