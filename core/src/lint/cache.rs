//! What the lint pass derived from each file, kept between builds.
//!
//! Parsing the SQL is most of a build script's work (squawk's parser, run
//! unoptimised: 3.7 s of CPU for 10,000 revisions), and it depends on one
//! file's text alone. So a build script keeps every file's parsed sections
//! in one file in `OUT_DIR`, keyed by the SHA-256 of the file's text; the
//! next run parses only the files whose text is new, and replays the
//! schema (cheap, and dependent on the whole graph) as before.
//!
//! The cache is an optimisation and never an authority: its header names
//! the format and the very build-script binary that wrote it (path, size,
//! modification time), so a kiln-core upgrade, or any rebuild of the build
//! script, starts from an empty cache; an entry that does not decode is a
//! miss; and a file that cannot be written is ignored.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::check::{Parsedrev, Section};
use super::sql::{
    Action, ColumnDef, ConstraintDef, ConstraintKind, CreateIndex, CreateTable, DefaultExpr, Ident, Op, Parsed, QName, Stmt, Tx, TypeRef,
};

/// The cache file's name in `OUT_DIR`.
pub(crate) const FILE: &str = "kiln_lint_cache.bin";

/// Bumped whenever the encoding below changes.
const FORMAT: u32 = 5;

/// A key: the SHA-256 of a file's BOM-less text, exactly as parsed (no
/// line-ending normalisation: the sections' byte offsets depend on it).
pub(crate) type Key = [u8; 32];

/// The key of a file's BOM-less text.
pub(crate) fn key(text: &str) -> Key {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Parsed files from the previous run, and counts of this run's lookups.
pub(crate) struct Cache {
    path: PathBuf,
    entries: HashMap<Key, Vec<u8>>,
    hits: AtomicUsize,
    misses: AtomicUsize,
    /// The declared schema's entry for the next run, and whether it is new.
    declared: std::sync::Mutex<Option<(Key, Vec<u8>, bool)>>,
}

impl Cache {
    /// Reads the cache at `path`; empty when it is missing, was written by
    /// another build of the build script, or is damaged.
    pub(crate) fn open(path: &Path) -> Cache {
        let entries = std::fs::read(path).ok().and_then(|bytes| read_entries(&bytes)).unwrap_or_default();
        Cache {
            path: path.to_path_buf(),
            entries,
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
            declared: std::sync::Mutex::new(None),
        }
    }

    /// The declared schema parsed as `parse` would, from the previous run's
    /// entry for this text when there is one (kept for the next run).
    /// Entries are files' sections, so the schema is kept as a revision
    /// whose upgrade is the whole text.
    pub(crate) fn declared(&self, text: &str, parse: impl FnOnce() -> super::sql::Parsed) -> super::sql::Parsed {
        let key = key(text);
        let keep =
            |bytes: Vec<u8>, new: bool| *self.declared.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((key, bytes, new));
        if let Some(bytes) = self.entries.get(&key) {
            let mut r = Reader { bytes, at: 0 };
            if let Some(rev) = Parsedrev::take(&mut r).filter(|_| r.at == bytes.len()) {
                keep(bytes.clone(), false);
                return rev.upgrade.parsed;
            }
        }
        let rev = Parsedrev { upgrade: Section { start: 0, parsed: parse() }, downgrade: None, key: None };
        let mut bytes = Vec::new();
        rev.put(&mut bytes);
        keep(bytes, true);
        rev.upgrade.parsed
    }

    /// The parsed sections of the file whose text has this key, if the
    /// previous run kept them.
    pub(crate) fn get(&self, key: &Key) -> Option<Parsedrev> {
        let found = self.entries.get(key).and_then(|bytes| {
            let mut r = Reader { bytes, at: 0 };
            let parsed = Parsedrev::take(&mut r)?;
            (r.at == bytes.len()).then_some(parsed)
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|mut p| {
            p.key = Some(*key);
            p
        })
    }

    /// How many entries the previous run left.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// This run's hits and misses.
    pub(crate) fn stats(&self) -> (usize, usize) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Replaces the file with this run's entries (one per revision; files
    /// gone from the directory are dropped). Skipped when every lookup hit
    /// and nothing was dropped; a write that fails only costs the next run
    /// its parsing.
    pub(crate) fn save(&self, texts: &[&str], parsed: &[Parsedrev]) {
        let mut keys: Vec<Key> = texts.iter().zip(parsed).map(|(t, p)| p.key.unwrap_or_else(|| key(t))).collect();
        let declared = self.declared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let declared_new = declared.as_ref().is_some_and(|d| d.2);
        keys.extend(declared.as_ref().map(|d| d.0));
        if self.stats().1 == 0 && !declared_new && keys.len() == self.entries.len() && keys.iter().all(|k| self.entries.contains_key(k)) {
            return;
        }
        let mut out = header();
        let mut put = |k: &Key, entry: &[u8]| {
            out.extend_from_slice(k);
            (entry.len() as u64).put(&mut out);
            out.extend_from_slice(entry);
        };
        for (k, p) in keys.iter().zip(parsed) {
            let mut entry = Vec::new();
            p.put(&mut entry);
            put(k, &entry);
        }
        if let Some((k, bytes, _)) = &declared {
            put(k, bytes);
        }
        let tmp = self.path.with_extension("tmp");
        if std::fs::write(&tmp, &out).is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        }
    }
}

/// The format and the identity of the running build script: a rebuilt
/// build script (a new kiln-core among its inputs) never reads an older
/// script's entries.
fn header() -> Vec<u8> {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_ref().and_then(|e| std::fs::metadata(e).ok());
    let modified = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let stamp = format!(
        "kiln lint cache {FORMAT} kiln-core {} {} {} {}\n",
        env!("CARGO_PKG_VERSION"),
        exe.as_ref().map_or(String::new(), |e| e.display().to_string()),
        meta.as_ref().map_or(0, |m| m.len()),
        modified.map_or(0, |d| d.as_nanos()),
    );
    stamp.into_bytes()
}

fn read_entries(bytes: &[u8]) -> Option<HashMap<Key, Vec<u8>>> {
    let header = header();
    let mut r = Reader { bytes: bytes.strip_prefix(header.as_slice())?, at: 0 };
    let mut entries = HashMap::new();
    while r.at < r.bytes.len() {
        let key: Key = r.raw(32)?.try_into().ok()?;
        let len = usize::try_from(u64::take(&mut r)?).ok()?;
        entries.insert(key, r.raw(len)?.to_vec());
    }
    Some(entries)
}

/// Reads what [`Wire::put`] wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn raw(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn tag(&mut self) -> Option<u8> {
        self.raw(1).map(|b| b[0])
    }
}

/// A value's encoding: integers as LEB128, strings and lists
/// length-prefixed, enums as a tag byte then their fields.
trait Wire: Sized {
    fn put(&self, w: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>) -> Option<Self>;
}

impl Wire for u64 {
    fn put(&self, w: &mut Vec<u8>) {
        let mut v = *self;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                w.push(byte);
                return;
            }
            w.push(byte | 0x80);
        }
    }

    fn take(r: &mut Reader<'_>) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = r.tag()?;
            v |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

impl Wire for usize {
    fn put(&self, w: &mut Vec<u8>) {
        (*self as u64).put(w)
    }

    fn take(r: &mut Reader<'_>) -> Option<usize> {
        usize::try_from(u64::take(r)?).ok()
    }
}

impl Wire for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.push(u8::from(*self))
    }

    fn take(r: &mut Reader<'_>) -> Option<bool> {
        match r.tag()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Wire for String {
    fn put(&self, w: &mut Vec<u8>) {
        self.len().put(w);
        w.extend_from_slice(self.as_bytes());
    }

    fn take(r: &mut Reader<'_>) -> Option<String> {
        let len = usize::take(r)?;
        String::from_utf8(r.raw(len)?.to_vec()).ok()
    }
}

/// The parser's fixed words (`Op::Data("INSERT")`...) come back as the
/// same `&'static str`: each distinct word is leaked once per process.
impl Wire for &'static str {
    fn put(&self, w: &mut Vec<u8>) {
        self.to_string().put(w)
    }

    fn take(r: &mut Reader<'_>) -> Option<&'static str> {
        static WORDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let word = String::take(r)?;
        let mut words = WORDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = words.iter().find(|w| **w == word) {
            return Some(w);
        }
        let leaked: &'static str = Box::leak(word.into_boxed_str());
        words.push(leaked);
        Some(leaked)
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, w: &mut Vec<u8>) {
        self.len().put(w);
        self.iter().for_each(|x| x.put(w));
    }

    fn take(r: &mut Reader<'_>) -> Option<Vec<T>> {
        let len = usize::take(r)?;
        // Never trust a length for an allocation: a damaged entry fails as it reads.
        let mut out = Vec::new();
        for _ in 0..len {
            out.push(T::take(r)?);
        }
        Some(out)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Vec<u8>) {
        match self {
            None => w.push(0),
            Some(x) => {
                w.push(1);
                x.put(w);
            }
        }
    }

    fn take(r: &mut Reader<'_>) -> Option<Option<T>> {
        match r.tag()? {
            0 => Some(None),
            1 => Some(Some(T::take(r)?)),
            _ => None,
        }
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn put(&self, w: &mut Vec<u8>) {
        self.0.put(w);
        self.1.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<(A, B)> {
        Some((A::take(r)?, B::take(r)?))
    }
}

impl Wire for Range<usize> {
    fn put(&self, w: &mut Vec<u8>) {
        self.start.put(w);
        self.end.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Range<usize>> {
        Some(usize::take(r)?..usize::take(r)?)
    }
}

/// A struct as its fields in order.
macro_rules! wire_struct {
    ($t:ident { $($field:ident),* $(,)? }) => {
        impl Wire for $t {
            fn put(&self, w: &mut Vec<u8>) {
                $(self.$field.put(w);)*
            }

            fn take(r: &mut Reader<'_>) -> Option<$t> {
                Some($t { $($field: Wire::take(r)?),* })
            }
        }
    };
}

wire_struct!(Section { start, parsed });
wire_struct!(Parsed { stmts, errors, too_complex });
wire_struct!(Stmt { span, op, tx });
wire_struct!(Ident { value, span });
wire_struct!(QName { schema, name, span });
wire_struct!(TypeRef { canonical, written, serial, span });
wire_struct!(DefaultExpr { text, volatile, span });
wire_struct!(ColumnDef { name, ty, not_null, default, generated, constraints, span });
wire_struct!(ConstraintDef { name, kind, not_valid, body, span });
wire_struct!(CreateTable { table, columns, constraints, if_not_exists, partial });
wire_struct!(CreateIndex { name, table, columns, unique, concurrently, if_not_exists, rest });

impl Wire for Parsedrev {
    fn put(&self, w: &mut Vec<u8>) {
        self.upgrade.put(w);
        self.downgrade.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Parsedrev> {
        Some(Parsedrev { upgrade: Wire::take(r)?, downgrade: Wire::take(r)?, key: None })
    }
}

/// An enum as a tag byte, then the variant's fields.
macro_rules! wire_enum {
    ($t:ident { $($tag:literal => $variant:ident $( ( $($pos:ident),* ) )? $( { $($named:ident),* } )?),* $(,)? }) => {
        impl Wire for $t {
            fn put(&self, w: &mut Vec<u8>) {
                match self {
                    $($t::$variant $( ( $($pos),* ) )? $( { $($named),* } )? => {
                        w.push($tag);
                        $( $($pos.put(w);)* )?
                        $( $($named.put(w);)* )?
                    })*
                }
            }

            fn take(r: &mut Reader<'_>) -> Option<$t> {
                match r.tag()? {
                    $($tag => Some($t::$variant $( ( $({ let $pos = Wire::take(r)?; $pos }),* ) )? $( { $($named: Wire::take(r)?),* } )?),)*
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(Tx {
    0 => Plain,
    1 => Control(word),
    2 => Outside { what, concurrently, repeatable },
});

wire_enum!(ConstraintKind {
    0 => PrimaryKey(columns),
    1 => Unique(columns),
    2 => ForeignKey { columns, table, ref_columns, options },
    3 => Check(columns),
    4 => Exclude,
});

wire_enum!(Action {
    0 => AddColumn(column),
    1 => DropColumn(name),
    2 => SetType(name, ty),
    3 => SetNotNull(name),
    4 => DropNotNull(name),
    5 => SetDefault(name, default),
    6 => DropDefault(name),
    7 => AddConstraint(constraint),
    8 => DropConstraint(name),
    9 => RenameColumn(from, to),
    10 => RenameConstraint(from, to),
    11 => RenameTable(to),
    12 => Inert,
    13 => Unknown(what),
});

wire_enum!(Op {
    0 => CreateTable(table),
    1 => AlterTable { table, if_exists, actions },
    2 => CreateIndex(index),
    3 => DropIndex { indexes, concurrently },
    4 => RenameIndex(from, to),
    5 => DropTable(tables),
    6 => Data(what),
    7 => Neutral,
    8 => OtherDdl,
    9 => Opaque(what),
    10 => CreateTableAs(table),
    11 => CreateObject { kind, name, or_replace },
    12 => DropObject { kind, names },
    13 => CreateEnum { name, values },
    14 => EnumValue { name, value, anchor, after, renamed },
    15 => RenameType { from, to },
});

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(sql: &str) {
        let parsed = super::super::sql::parse(sql);
        let mut bytes = Vec::new();
        parsed.put(&mut bytes);
        let mut r = Reader { bytes: &bytes, at: 0 };
        assert_eq!(Parsed::take(&mut r).as_ref(), Some(&parsed), "{sql}");
        assert_eq!(r.at, bytes.len());
        // Every strict prefix is a damaged entry: it fails, never panics.
        for cut in 0..bytes.len() {
            let mut r = Reader { bytes: &bytes[..cut], at: 0 };
            assert!(Parsed::take(&mut r).is_none(), "{sql}: a prefix of {cut} bytes decoded");
        }
    }

    #[test]
    fn every_kind_of_statement_comes_back_as_parsed() {
        round_trip(
            "CREATE TABLE IF NOT EXISTS s.t (id VARCHAR(26) PRIMARY KEY, n INT NOT NULL DEFAULT random()::int, \
             g INT GENERATED ALWAYS AS IDENTITY, r VARCHAR(26) REFERENCES u (id), CHECK (n > 0), UNIQUE (n), EXCLUDE USING gist (n WITH =));\n\
             ALTER TABLE IF EXISTS t ADD COLUMN c TEXT, DROP COLUMN d, ALTER COLUMN e TYPE BIGINT, ALTER COLUMN f SET NOT NULL, \
             ALTER COLUMN f DROP NOT NULL, ALTER COLUMN f SET DEFAULT 1, ALTER COLUMN f DROP DEFAULT, \
             ADD CONSTRAINT fk_t_r_u FOREIGN KEY (r) REFERENCES u (id) NOT VALID, DROP CONSTRAINT x, OWNER TO y, SET SCHEMA z;\n\
             ALTER TABLE t RENAME COLUMN a TO b; ALTER TABLE t RENAME CONSTRAINT a TO b; ALTER TABLE t RENAME TO t2;\n\
             CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a, lower(b)); DROP INDEX CONCURRENTLY ix_t_a;\n\
             ALTER INDEX ix_a RENAME TO ix_b; DROP TABLE t, s.u; INSERT INTO t VALUES (1); SELECT 1; CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql;\n\
             DO $$ BEGIN END $$; CREATE TABLE t3 AS SELECT 1; BEGIN; COMMIT; VACUUM t; SELECT 'ünïcode';\n\
             CREATE VIEW v AS SELECT 1; DROP VIEW v, w; CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f(); DROP TRIGGER tr ON t; DROP FUNCTION f(int);\n\
             CREATE TYPE k AS ENUM ('a', 'b'); ALTER TYPE k ADD VALUE 'c' BEFORE 'b'; ALTER TYPE k RENAME VALUE 'a' TO 'z'; ALTER TYPE k RENAME TO k2;\n\
             CREATE TABLE broken (",
        );
    }

    #[test]
    fn too_complex_sections_and_syntax_errors_come_back() {
        round_trip(&format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300)));
        round_trip("SELEC 1; CREATE TABLE (;");
        round_trip("");
    }

    #[test]
    fn entries_survive_a_save_and_a_damaged_file_is_empty() {
        let dir = std::env::temp_dir().join(format!("kiln-lint-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        let text = "-- x\nCREATE TABLE items (id VARCHAR(26) PRIMARY KEY);\n";
        let parsed = Parsedrev { upgrade: Section { start: 5, parsed: super::super::sql::parse(&text[5..]) }, downgrade: None, key: None };
        let cache = Cache::open(&path);
        assert!(cache.get(&key(text)).is_none());
        cache.save(&[text], std::slice::from_ref(&parsed));
        let again = Cache::open(&path);
        let found = again.get(&key(text)).expect("saved");
        assert_eq!(found.upgrade.parsed, parsed.upgrade.parsed);
        assert_eq!(again.stats(), (1, 0));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(Cache::open(&path).get(&key(text)).is_none(), "a truncated file is an empty cache");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
