static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/duplicate_revision");

fn main() {
    let _ = MIGRATIONS.len();
}
