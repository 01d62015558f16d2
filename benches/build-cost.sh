#!/usr/bin/env bash
# Clean-build cost of a minimal service on each README route, next to the
# same service on refinery and on sqlx. Each crate is built twice from an
# empty target directory (debug, then release); the table gives wall time
# and the number of crates compiled. Needs the network the first time (to
# fetch refinery and sqlx). Usage: bash benches/build-cost.sh [outdir]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${TMPDIR:-/tmp}/kiln-build-cost}"
rm -rf "$out" && mkdir -p "$out"

# The same seven revisions for every tool: the reference schema's upgrades.
mkdir -p "$out/sql"
n=0
for f in "$repo"/migrations/*.sql; do
  n=$((n + 1))
  awk '/^-- kiln:upgrade/{on=1;next} /^-- kiln:downgrade/{on=0} on' "$f" > "$out/sql/$n.sql"
done

crate() { # name, Cargo.toml dependency lines, main.rs, [build.rs]
  local dir="$out/$1"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n%s\n' "$1" "$2" > "$dir/Cargo.toml"
  printf '%s\n' "$3" > "$dir/src/main.rs"
  if [ -n "${4:-}" ]; then printf '%s\n' "$4" > "$dir/build.rs"; fi
}

kiln_migrations() { cp -r "$repo/migrations" "$out/$1/migrations"; }

crate kiln-build-rs "[dependencies]
kiln = { path = \"$repo\", version = \"0.1\" }
postgres = \"0.19\"

[build-dependencies]
kiln-core = { path = \"$repo/core\", version = \"0.1\" }" \
'static M: kiln::Migrations = kiln::include_migrations!();
fn main() { let mut c = postgres::Client::connect(&std::env::var("DATABASE_URL").unwrap(), postgres::NoTls).unwrap(); kiln::Migrator::new(M).upgrade(&mut c, "heads").unwrap(); }' \
'fn main() { kiln_core::build::migrations("migrations"); }'
kiln_migrations kiln-build-rs

crate kiln-build-rs-no-lint "[dependencies]
kiln = { path = \"$repo\", version = \"0.1\" }
postgres = \"0.19\"

[build-dependencies]
kiln-core = { path = \"$repo/core\", version = \"0.1\", default-features = false }" \
'static M: kiln::Migrations = kiln::include_migrations!();
fn main() { let mut c = postgres::Client::connect(&std::env::var("DATABASE_URL").unwrap(), postgres::NoTls).unwrap(); kiln::Migrator::new(M).upgrade(&mut c, "heads").unwrap(); }' \
'fn main() { kiln_core::build::migrations("migrations"); }'
kiln_migrations kiln-build-rs-no-lint

crate kiln-macro "[dependencies]
kiln = { path = \"$repo\", version = \"0.1\", features = [\"macros\"] }
postgres = \"0.19\"" \
'static M: kiln::Migrations = kiln::embed_migrations!("migrations");
fn main() { let mut c = postgres::Client::connect(&std::env::var("DATABASE_URL").unwrap(), postgres::NoTls).unwrap(); kiln::Migrator::new(M).upgrade(&mut c, "heads").unwrap(); }'
kiln_migrations kiln-macro

crate kiln-tokio "[dependencies]
kiln = { path = \"$repo\", version = \"0.1\", default-features = false, features = [\"tokio-postgres\", \"macros\"] }
tokio = { version = \"1\", features = [\"macros\", \"rt\"] }
tokio-postgres = \"0.7\"" \
'static M: kiln::Migrations = kiln::embed_migrations!("migrations");
#[tokio::main(flavor = "current_thread")]
async fn main() { let (c, conn) = tokio_postgres::connect(&std::env::var("DATABASE_URL").unwrap(), tokio_postgres::NoTls).await.unwrap(); tokio::spawn(conn); kiln::Migrator::new(M).upgrade_async(&c, "heads").await.unwrap(); }'
kiln_migrations kiln-tokio

crate refinery-sync '[dependencies]
refinery = { version = "0.8", features = ["postgres"] }
postgres = "0.19"' \
'mod embedded { refinery::embed_migrations!("migrations"); }
fn main() { let mut c = postgres::Client::connect(&std::env::var("DATABASE_URL").unwrap(), postgres::NoTls).unwrap(); embedded::migrations::runner().run(&mut c).unwrap(); }'
mkdir -p "$out/refinery-sync/migrations"
for i in $(seq 1 $n); do cp "$out/sql/$i.sql" "$out/refinery-sync/migrations/V${i}__step.sql"; done

crate sqlx-tokio '[dependencies]
sqlx = { version = "0.8", default-features = false, features = ["postgres", "runtime-tokio", "migrate", "macros"] }
tokio = { version = "1", features = ["macros", "rt"] }' \
'#[tokio::main(flavor = "current_thread")]
async fn main() { let pool = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap()).await.unwrap(); sqlx::migrate!("./migrations").run(&pool).await.unwrap(); }'
mkdir -p "$out/sqlx-tokio/migrations"
for i in $(seq 1 $n); do cp "$out/sql/$i.sql" "$out/sqlx-tokio/migrations/2026120100000${i}_step.sql"; done

printf '| crate | debug (s) | release (s) | crates compiled |\n|---|---|---|---|\n'
for c in kiln-build-rs kiln-build-rs-no-lint kiln-macro kiln-tokio refinery-sync sqlx-tokio; do
  (cd "$out/$c" && cargo fetch -q)
  row="| $c |"
  for profile in debug release; do
    target="$out/target-$c-$profile"
    flag=""; [ "$profile" = release ] && flag="--release"
    start=$(date +%s.%N)
    (cd "$out/$c" && CARGO_TARGET_DIR="$target" cargo build -q $flag 2>/dev/null)
    end=$(date +%s.%N)
    row="$row $(echo "$end - $start" | bc | xargs printf '%.1f') |"
    units=$(ls "$target/$profile/.fingerprint" | sed 's/-[0-9a-f]*$//' | sort -u | wc -l)
    rm -rf "$target"
  done
  echo "$row $units |"
done
