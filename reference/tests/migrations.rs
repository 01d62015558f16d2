//! Kartograph's migration tests, written as a user of `kiln::testing`
//! writes them. `docs/testing.md` quotes this file; a test there checks
//! that each of its Rust blocks is here, so every snippet is built and run.

use kartograph::MIGRATIONS;
use kiln::testing::{assert_round_trip, RoundTrip, TestDatabase};

// guide: round trip
#[test]
fn every_revision_goes_down_and_up_again() {
    assert_round_trip(&MIGRATIONS);
}
// end

// guide: fixture
#[test]
fn a_user_is_stored_once_per_email() {
    let db = TestDatabase::migrated(&MIGRATIONS, "heads");
    let mut client = db.connect();
    let insert = "INSERT INTO users (id, email, display_name) VALUES ($1, 'ada@example.com', 'Ada')";
    client.execute(insert, &[&"01JD0000000000000000000001"]).unwrap();
    let again = client.execute(insert, &[&"01JD0000000000000000000002"]).unwrap_err();
    assert_eq!(again.code(), Some(&postgres::error::SqlState::UNIQUE_VIOLATION));
}
// end

// guide: at a revision
#[test]
fn the_plan_column_arrives_with_its_default() {
    let db = TestDatabase::migrated(&MIGRATIONS, "a1b2c3d4e5f6");
    let mut client = db.connect();
    client.execute("INSERT INTO workspaces (id, name) VALUES ('01JD0000000000000000000003', 'Acme')", &[]).unwrap();
    kiln::Migrator::new(MIGRATIONS).upgrade(&mut client, "e4f5a6b7c8d9").unwrap();
    let plan: String = client.query_one("SELECT plan FROM workspaces", &[]).unwrap().get(0);
    assert_eq!(plan, "free");
}
// end

// guide: async
#[tokio::test]
async fn the_api_reads_users_over_tokio_postgres() {
    let db = TestDatabase::migrated(&MIGRATIONS, "heads");
    let client = db.connect_async().await;
    let n: i64 = client.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
}
// end

// guide: data
#[test]
fn downgrades_keep_existing_rows() {
    RoundTrip::new(&MIGRATIONS)
        .with_rows(
            "7fbe65eaef1b",
            "INSERT INTO users (id, email, display_name) VALUES ('01JD0000000000000000000004', 'bo@example.com', 'Bo')",
        )
        .with_rows("e4f5a6b7c8d9", "INSERT INTO workspaces (id, name) VALUES ('01JD0000000000000000000005', 'Acme')")
        .assert();
}
// end
