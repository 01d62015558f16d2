//! Compile-fail tests: one broken migrations directory per class of problem
//! (`tests/ui/fixtures/<case>/`), each embedded with `embed_migrations!`
//! (`tests/ui/<case>.rs`); `tests/ui/<case>.stderr` is exactly what the user
//! sees. Regenerate with `TRYBUILD=overwrite` and review the diff.

#[test]
fn broken_directories_fail_to_compile_with_their_diagnostic() {
    // trybuild builds the cases in its own crate under target/, so the
    // macro's usual path (relative to CARGO_MANIFEST_DIR) cannot reach the
    // fixtures; `$KILN_UI/...` names them wherever the checkout is.
    std::env::set_var("KILN_UI", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/fixtures"));
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
