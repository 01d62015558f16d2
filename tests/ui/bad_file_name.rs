static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/bad_file_name");

fn main() {
    let _ = MIGRATIONS.len();
}
