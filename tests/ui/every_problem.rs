static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/every_problem");

fn main() {
    let _ = MIGRATIONS.len();
}
