static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/transaction_control");

fn main() {
    let _ = MIGRATIONS.len();
}
