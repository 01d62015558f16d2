//! Content checksums of revision files.
//!
//! The checksum is stored in the history table next to every applied
//! revision and compared on later runs to detect a file edited after it was
//! applied. It is therefore a stored format: **this function is pinned and
//! must never change**. A new algorithm, or a different normalisation, would
//! make every database migrated by an older kiln report drift on every
//! revision. It is SHA-256 (a hash with a fixed definition, so the stored
//! values cannot move with the `sha2` crate's version; the tests pin them)
//! over the file's text after normalisation:
//!
//! - a leading UTF-8 byte order mark is removed;
//! - `\r\n` and lone `\r` become `\n`.
//!
//! So a checkout with Windows line endings (git's `core.autocrlf`) or an
//! editor that adds a BOM is not drift, while any other edit is.

/// Lowercase hex SHA-256 of the normalised text (64 characters).
pub fn checksum(text: &str) -> String {
    hex(&sha256(normalize(text).as_bytes()))
}

/// The executable checksum ("v2"), pinned like [`checksum`] and stored
/// beside it (`checksum_v2`): SHA-256 over what runs, not over the file, so
/// that an edited comment, an added `-- kiln:allow(...)` or re-indented SQL
/// is not drift while any change to a statement, to the header's
/// `Transactional` or `Irreversible`, or to the set of statements is. The
/// input is, in order: `kiln checksum v2`, `transactional: <bool>`, then
/// `upgrade` and each upgrade statement's [`executable_text`], then
/// `downgrade` and each of its statements (or `irreversible`), each on
/// its own line, statements ended by `;`. Statements are the build's
/// parser's, so this needs the `lint` feature; without it a revision has no
/// v2 checksum and drift is judged on [`checksum`] alone.
///
/// [`executable_text`]: crate::lint::sql::executable_text
#[cfg(feature = "lint")]
pub fn executable(transactional: bool, upgrade: &[&str], downgrade: Option<&[&str]>) -> String {
    let mut input = format!("kiln checksum v2\ntransactional: {transactional}\nupgrade\n");
    for s in upgrade {
        input.push_str(&crate::lint::sql::executable_text(s));
        input.push_str(";\n");
    }
    match downgrade {
        Some(statements) => {
            input.push_str("downgrade\n");
            for s in statements {
                input.push_str(&crate::lint::sql::executable_text(s));
                input.push_str(";\n");
            }
        }
        None => input.push_str("irreversible\n"),
    }
    hex(&sha256(input.as_bytes()))
}

/// The fingerprint of a set of applied revisions: the XOR of
/// SHA-256(`id:checksum`) over the set, in hex. Order does not matter, so it
/// can be computed from the embedded set at build time and from the history
/// table at run time, and compared in one short row on an idle start. Pinned
/// like [`checksum`]: it is stored in the state table.
pub fn fingerprint<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut acc = [0u8; 32];
    for (id, checksum) in entries {
        let digest = sha256(format!("{id}:{checksum}").as_bytes());
        for (a, d) in acc.iter_mut().zip(digest) {
            *a ^= d;
        }
    }
    hex(&acc)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from_digit(u32::from(b >> 4), 16).expect("nibble"));
        out.push(char::from_digit(u32::from(b & 15), 16).expect("nibble"));
    }
    out
}

/// The text the checksum is computed over: no BOM, `\n` line endings.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// SHA-256 (FIPS 180-4), from the RustCrypto `sha2` crate, which every
/// runtime binary compiles already (PostgreSQL's SCRAM authentication in
/// `postgres-protocol`). The tests pin its output on today's stored values.
fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned: the executable checksum is a stored format too (the value is
    /// Python's `hashlib.sha256` of the documented input).
    #[test]
    #[cfg(feature = "lint")]
    fn executable_checksum_is_pinned_and_ignores_comments() {
        let v2 = executable(true, &["CREATE TABLE t (id int)"], Some(&["DROP TABLE t"]));
        assert_eq!(v2, "e7ff39cce3dc0e2ba2ed0eb5b0a47fa1a076c948fc4e25740bd587cbdb6afb5f");
        assert_eq!(v2, executable(true, &["CREATE  TABLE t ( -- key\n id int /* ! */)"], Some(&["DROP TABLE t"])));
        assert_ne!(v2, executable(false, &["CREATE TABLE t (id int)"], Some(&["DROP TABLE t"])));
        assert_ne!(v2, executable(true, &["CREATE TABLE t (id int)"], None));
        assert_ne!(v2, executable(true, &["CREATE TABLE t (id int)", ""], Some(&["DROP TABLE t"])));
        assert_ne!(v2, executable(true, &["CREATE TABLE t (id bigint)"], Some(&["DROP TABLE t"])));
    }

    #[test]
    fn sha256_matches_fips_vectors() {
        assert_eq!(checksum(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(checksum("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            checksum("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    /// The values kiln has stored since 0.1 for the reference schema
    /// (computed by the hand-written SHA-256 this replaced, and by Python's
    /// hashlib): a change here is a stored-format change.
    #[test]
    fn stored_checksums_and_the_fingerprint_never_change() {
        let pinned = [
            ("1975ea83b712_create_workspaces_table.sql", "0a31d1228b23f10c84cacb656ef7213cdcd48ca916f1df2656e1c599c813eae4"),
            ("3c4d5e6f7a8b_create_teams_table.sql", "6bd3ffb285c6cfd55f3d79db2698300e9a0a515d9709c1a810734645472ab7ee"),
            ("7fbe65eaef1b_create_users_table.sql", "88ce06e11b510b650bf5defb0e99878295625e27f1edd222d3a95e80e7732578"),
            ("a1b2c3d4e5f6_create_api_keys_table.sql", "d140ac5ec06c3742f20ee3fa5ed26e3d9e98818333ab997e91942bcebe5ad16c"),
            ("b7e2d91c4a05_add_api_keys_last_used_at_index.sql", "90a47b0e6b73d8f2e18cf0fa3db9f6a5a4da96f8d1a855bf62277a0403feef1b"),
            ("e4f5a6b7c8d9_add_workspaces_plan_column.sql", "d43bf870ae5bfe629a03f5eb2175d82d00e207ed6b3630086f5920df77891862"),
            ("f0e1d2c3b4a5_merge_index_and_plan_branches.sql", "82a94c90b44a231f5de2a8e77837cdeee8427814b9b86b216f81baf24cb4090b"),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let mut entries = Vec::new();
        for (file, want) in pinned {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(checksum(&text), want, "{file}");
            entries.push((&file[..12], want));
        }
        assert_eq!(fingerprint(entries), "f6e223c11c0a36ddc08efd949923a42ab005a1b618b42b449ddbcbc891b57f7c");
        // A long input crosses many blocks (the padding of the last one included).
        assert_eq!(checksum(&"a".repeat(1_000_000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }

    #[test]
    fn fingerprints_ignore_order_and_see_every_entry() {
        let a = fingerprint([("a1", "x"), ("b2", "y")]);
        assert_eq!(a, fingerprint([("b2", "y"), ("a1", "x")]));
        assert_ne!(a, fingerprint([("a1", "x"), ("b2", "z")]));
        assert_ne!(a, fingerprint([("a1", "x")]));
        assert_eq!(fingerprint([]), "0".repeat(64));
    }

    #[test]
    fn line_endings_and_bom_do_not_change_the_checksum() {
        let unix = "-- a\nSELECT 1;\n";
        assert_eq!(checksum(unix), checksum("\u{feff}-- a\r\nSELECT 1;\r\n"));
        assert_eq!(checksum(unix), checksum("-- a\rSELECT 1;\r"));
        assert_ne!(checksum(unix), checksum("-- a\nSELECT 2;\n"));
    }
}
