//! The adapter over squawk-syntax: the only file that names the parser.
//!
//! It parses one section of SQL and lowers each statement into kiln's own
//! small statement model ([`Op`]). Everything the lint rules and the schema
//! model need is here, as plain data with byte spans relative to the parsed
//! text; nothing of squawk's tree escapes, so a new squawk version (whose API
//! moves between minor releases) changes this file and no other.

use std::ops::Range;

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SyntaxKind, SyntaxNode};

/// One parsed section: its statements and its syntax errors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// Syntax errors: message and byte range.
    pub errors: Vec<(String, Range<usize>)>,
    /// The section nests deeper than kiln parses (see [`too_complex`]): it
    /// was not parsed, and `stmts` is empty. Message and where.
    pub too_complex: Option<(String, Range<usize>)>,
}

/// How deep SQL may nest before kiln refuses to parse it: the sum, over
/// the open parentheses and brackets, of each level's chain of operators
/// (`1 + 1 + ...`, `a OR b OR ...`, `NOT NOT ...`), plus five per level.
/// squawk's parser recurses once per level and builds left-associative
/// chains in time quadratic in their length; past this budget a build
/// script's thread would overflow its stack or spend minutes. Real
/// migrations stay far below it (the corpus: at most a few dozen).
pub const NESTING_BUDGET: usize = 1000;

/// Where `text` first exceeds [`NESTING_BUDGET`], with a message; `None`
/// when it can be parsed. One pass over squawk's lexer, so linear in the
/// text whatever its shape.
///
/// ```
/// use kiln_core::lint::sql::too_complex;
/// assert!(too_complex("SELECT (1 + 2) * 3, f(a, b) FROM t WHERE a = 1 AND b = 2").is_none());
/// assert!(too_complex(&format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300))).is_some());
/// assert!(too_complex(&format!("SELECT 1{}", " + 1".repeat(2000))).is_some());
/// // Long lists are flat, not deep.
/// assert!(too_complex(&format!("INSERT INTO t VALUES (1){}", ", (1 + 1)".repeat(50_000))).is_none());
/// ```
pub fn too_complex(text: &str) -> Option<(String, Range<usize>)> {
    use squawk_lexer::TokenKind as K;
    /// One open parenthesis: the chain of operators at its level, whether
    /// its last token was an operand, and whether it is a call's argument list.
    struct Level {
        chain: usize,
        operand: bool,
        call: bool,
    }
    fn operand(level: &mut Level, sum: &mut usize, continues: bool) {
        // Two operands in a row (`'x' WHEN`, `1 THEN`) end a chain.
        if level.operand && !continues {
            *sum -= level.chain;
            level.chain = 0;
        }
        level.operand = true;
    }
    let mut stack = vec![Level { chain: 0, operand: false, call: false }];
    let mut sum = 0;
    let mut at = 0;
    for token in squawk_lexer::tokenize(text) {
        let range = at..at + token.len as usize;
        at = range.end;
        let top = stack.last_mut().expect("the outermost level stays");
        match token.kind {
            K::Whitespace | K::LineComment | K::BlockComment { .. } => continue,
            K::Semi | K::Comma => {
                sum -= top.chain;
                top.chain = 0;
                top.operand = false;
            }
            K::OpenParen | K::OpenBracket => {
                let call = top.operand;
                stack.push(Level { chain: 0, operand: false, call });
            }
            K::CloseParen | K::CloseBracket => {
                if stack.len() > 1 {
                    let closed = stack.pop().expect("more than one level");
                    sum -= closed.chain;
                    let outer = stack.last_mut().expect("the outermost level stays");
                    operand(outer, &mut sum, closed.call);
                }
            }
            K::Minus
            | K::Plus
            | K::Star
            | K::Slash
            | K::Percent
            | K::Caret
            | K::Eq
            | K::Lt
            | K::Gt
            | K::Bang
            | K::Tilde
            | K::Pound
            | K::Question
            | K::And
            | K::Or
            | K::At
            | K::Colon
            | K::Dot => {
                top.chain += 1;
                sum += 1;
                top.operand = false;
            }
            K::Ident if ["and", "or", "not"].iter().any(|k| text[range.clone()].eq_ignore_ascii_case(k)) => {
                top.chain += 1;
                sum += 1;
                top.operand = false;
            }
            _ => operand(top, &mut sum, false),
        }
        let depth = stack.len() - 1;
        if sum + 5 * depth > NESTING_BUDGET {
            let what = if 5 * depth >= sum {
                format!("parentheses nested more than {} levels deep", NESTING_BUDGET / 5)
            } else {
                format!("an expression chaining more than {sum} operators")
            };
            return Some((what, range));
        }
    }
    None
}

/// A statement with its byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// Byte range of the statement (without its leading comments).
    pub span: Range<usize>,
    /// What it does.
    pub op: Op,
    /// How it relates to a transaction block.
    pub tx: Tx,
}

/// How a statement relates to the transaction it runs in: what the runner
/// and the transaction rules need to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tx {
    /// Runs inside a transaction block like any other statement.
    Plain,
    /// Ends or opens a transaction (`BEGIN`, `COMMIT`, `ROLLBACK`, `END`,
    /// `ABORT`, `PREPARE TRANSACTION`, `COMMIT PREPARED`...), with its
    /// leading words; `ROLLBACK TO SAVEPOINT` is [`Tx::Plain`].
    Control(&'static str),
    /// PostgreSQL refuses it inside a transaction block: `what` names it,
    /// `concurrently` is where its `CONCURRENTLY` stands (if it has one).
    Outside {
        /// Its leading words, such as `VACUUM` or `CREATE INDEX CONCURRENTLY`.
        what: &'static str,
        /// The `CONCURRENTLY` keyword's range.
        concurrently: Option<Range<usize>>,
        /// Running it again after an interruption is harmless (`VACUUM`,
        /// `ALTER SYSTEM`, `REINDEX`, `CLUSTER`, `DISCARD ALL`).
        repeatable: bool,
    },
}

/// A name as PostgreSQL folds it (unquoted: lowercased), with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The folded name.
    pub value: String,
    /// Where it is written.
    pub span: Range<usize>,
}

/// A possibly schema-qualified name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QName {
    /// The schema, when written.
    pub schema: Option<String>,
    /// The object's own name.
    pub name: String,
    /// Where it is written.
    pub span: Range<usize>,
}

impl QName {
    /// The key the schema model files the object under: `schema.name`, or
    /// the bare name for `public` and unqualified names.
    pub fn key(&self) -> String {
        match &self.schema {
            Some(s) if s != "public" => format!("{s}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A column type, canonicalised (`character varying(26)` is `varchar(26)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRef {
    /// Canonical spelling, lowercase, such as `varchar(26)` or `timestamptz`.
    pub canonical: String,
    /// As written.
    pub written: String,
    /// `serial`, `bigserial` and friends (their default is `nextval()`).
    pub serial: bool,
    /// Where it is written.
    pub span: Range<usize>,
}

/// A column default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultExpr {
    /// The expression, whitespace-normalised (what the model compares).
    pub text: String,
    /// The first volatile function it calls (`random`, `gen_random_uuid`...).
    pub volatile: Option<String>,
    /// Where it is written.
    pub span: Range<usize>,
}

/// A column definition (`CREATE TABLE` or `ADD COLUMN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    /// Its name.
    pub name: Ident,
    /// Its type.
    pub ty: Option<TypeRef>,
    /// `NOT NULL` (or `PRIMARY KEY`).
    pub not_null: bool,
    /// `DEFAULT`.
    pub default: Option<DefaultExpr>,
    /// `GENERATED ... AS IDENTITY` or `GENERATED ALWAYS AS (...)`, its
    /// tokens one space apart: PostgreSQL fills it.
    pub generated: Option<String>,
    /// Inline `PRIMARY KEY`, `UNIQUE`, `REFERENCES` and `CHECK`, with this column as their column.
    pub constraints: Vec<ConstraintDef>,
    /// The whole definition.
    pub span: Range<usize>,
}

/// A table or column constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintDef {
    /// `CONSTRAINT <name>`, when given.
    pub name: Option<Ident>,
    /// Its kind and columns.
    pub kind: ConstraintKind,
    /// `NOT VALID`.
    pub not_valid: bool,
    /// The constraint as SQL, its tokens one space apart, without
    /// `CONSTRAINT <name>` and `NOT VALID`: `CHECK ( price > 0 )`.
    pub body: String,
    /// The whole constraint.
    pub span: Range<usize>,
}

/// What a constraint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `PRIMARY KEY (cols)`.
    PrimaryKey(Vec<String>),
    /// `UNIQUE (cols)`.
    Unique(Vec<String>),
    /// `FOREIGN KEY (cols) REFERENCES table (ref_cols)`; `ref_cols` is empty for the referenced primary key.
    ForeignKey {
        /// Referencing columns.
        columns: Vec<String>,
        /// Referenced table.
        table: QName,
        /// Referenced columns, empty when not written.
        ref_columns: Vec<String>,
        /// What follows the reference, upper-cased, less PostgreSQL's
        /// defaults: `ON DELETE CASCADE`, `DEFERRABLE INITIALLY DEFERRED`,
        /// `MATCH FULL`... (empty for `NO ACTION`, `NOT DEFERRABLE`).
        options: String,
    },
    /// `CHECK (...)` on the given columns (empty for a table check).
    Check(Vec<String>),
    /// `EXCLUDE ...`.
    Exclude,
}

/// `CREATE TABLE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTable {
    /// The table.
    pub table: QName,
    /// Its columns.
    pub columns: Vec<ColumnDef>,
    /// Table constraints.
    pub constraints: Vec<ConstraintDef>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Columns come from elsewhere too (`LIKE`, `INHERITS`, `PARTITION OF`, `OF type`, `AS`).
    pub partial: bool,
}

/// `CREATE INDEX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateIndex {
    /// Its name, when given.
    pub name: Option<Ident>,
    /// The table.
    pub table: QName,
    /// Indexed columns; `None` for an expression.
    pub columns: Vec<Option<String>>,
    /// `UNIQUE`.
    pub unique: bool,
    /// `CONCURRENTLY`, and where.
    pub concurrently: Option<Range<usize>>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// What follows the table name, its tokens one space apart:
    /// `USING btree ( email ) WHERE deleted_at IS NULL`.
    pub rest: String,
}

/// One action of `ALTER TABLE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `ADD COLUMN`.
    AddColumn(ColumnDef),
    /// `DROP COLUMN`.
    DropColumn(Ident),
    /// `ALTER COLUMN ... TYPE`.
    SetType(Ident, TypeRef),
    /// `ALTER COLUMN ... SET NOT NULL`.
    SetNotNull(Ident),
    /// `ALTER COLUMN ... DROP NOT NULL`.
    DropNotNull(Ident),
    /// `ALTER COLUMN ... SET DEFAULT`.
    SetDefault(Ident, DefaultExpr),
    /// `ALTER COLUMN ... DROP DEFAULT`.
    DropDefault(Ident),
    /// `ADD [CONSTRAINT name] ...`.
    AddConstraint(ConstraintDef),
    /// `DROP CONSTRAINT`.
    DropConstraint(Ident),
    /// `RENAME COLUMN a TO b`.
    RenameColumn(Ident, Ident),
    /// `RENAME CONSTRAINT a TO b`.
    RenameConstraint(Ident, Ident),
    /// `RENAME TO`.
    RenameTable(Ident),
    /// Changes nothing the model holds (owner, triggers, row security, storage options, `VALIDATE CONSTRAINT`...).
    Inert,
    /// Changes the table in a way the model does not follow (`SET SCHEMA`, partitions, inheritance...).
    Unknown(&'static str),
}

/// What a statement does, as far as kiln's rules are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `CREATE TABLE`.
    CreateTable(CreateTable),
    /// `ALTER TABLE`, with each action and its span.
    AlterTable {
        /// The table.
        table: QName,
        /// `IF EXISTS`.
        if_exists: bool,
        /// Its actions.
        actions: Vec<(Range<usize>, Action)>,
    },
    /// `CREATE INDEX`.
    CreateIndex(CreateIndex),
    /// `DROP INDEX`.
    DropIndex {
        /// Dropped indexes.
        indexes: Vec<QName>,
        /// `CONCURRENTLY`, and where.
        concurrently: Option<Range<usize>>,
    },
    /// `ALTER INDEX a RENAME TO b`.
    RenameIndex(QName, Ident),
    /// `DROP TABLE`.
    DropTable(Vec<QName>),
    /// A data change: `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY`, `TRUNCATE`.
    Data(&'static str),
    /// Neither schema nor data: `SELECT`, `SET`, `ANALYZE`...
    Neutral,
    /// A schema change to objects the model does not hold: functions, types,
    /// triggers, views, sequences, extensions, grants, comments...
    OtherDdl,
    /// May change tables in ways that cannot be known from the text (`DO`,
    /// `CALL`, `EXECUTE`, `DROP SCHEMA`...): the model becomes uncertain.
    Opaque(&'static str),
    /// `CREATE TABLE ... AS` and `SELECT ... INTO`: a table whose columns are not known.
    CreateTableAs(QName),
    /// `CREATE FUNCTION`, `VIEW`, `MATERIALIZED VIEW`, `TYPE`, `DOMAIN`,
    /// `SEQUENCE` or `TRIGGER` (named `<trigger> on <table>`): an object the
    /// model keeps by kind and name, for reversibility.
    CreateObject {
        /// `function`, `view`, `materialized view`, `type`, `domain`, `sequence` or `trigger`.
        kind: &'static str,
        /// Its name.
        name: QName,
        /// `OR REPLACE` (or `IF NOT EXISTS`): creating it again is no change.
        or_replace: bool,
    },
    /// `CREATE TYPE ... AS ENUM`: a type whose values the model keeps in order.
    CreateEnum {
        /// The type.
        name: QName,
        /// Its values, in order, as written between the quotes.
        values: Vec<String>,
    },
    /// `ALTER TYPE ... ADD VALUE` or `RENAME VALUE`.
    EnumValue {
        /// The type.
        name: QName,
        /// The value added, or the new name.
        value: String,
        /// `BEFORE`/`AFTER` this value (`after` true for `AFTER`); at the end when none.
        anchor: Option<String>,
        /// True for `AFTER`.
        after: bool,
        /// `RENAME VALUE`: the old name.
        renamed: Option<String>,
    },
    /// `ALTER TYPE ... RENAME TO`: the type (and an enum's values) under its new name, in its schema.
    RenameType {
        /// The type.
        from: QName,
        /// Its new name.
        to: String,
    },
    /// `DROP` of such objects (without `CASCADE`, which is opaque).
    DropObject {
        /// As in [`Op::CreateObject`].
        kind: &'static str,
        /// The objects dropped.
        names: Vec<QName>,
    },
}

/// A statement as PostgreSQL executes it: its tokens, without comments and
/// whitespace, one space apart (a string, or a dollar-quoted body, is one
/// token, kept whole). What [`crate::checksum::executable`] hashes.
///
/// ```
/// use kiln_core::lint::sql::executable_text;
/// assert_eq!(executable_text("CREATE TABLE t ( -- why\n  id int /* key */ )"), "CREATE TABLE t ( id int )");
/// assert_eq!(executable_text("SELECT '  -- kept  '"), "SELECT '  -- kept  '");
/// ```
pub fn executable_text(sql: &str) -> String {
    use squawk_lexer::TokenKind as K;
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for token in squawk_lexer::tokenize(sql) {
        let range = at..at + token.len as usize;
        at = range.end;
        if matches!(token.kind, K::Whitespace | K::LineComment | K::BlockComment { .. }) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sql[range]);
    }
    out
}

/// Parses one section of SQL.
///
/// This is `squawk_syntax::SourceFile::parse` without its `errors()`: that
/// call re-walks the whole tree twice for squawk's extra semantic checks
/// (and re-parses SQL function bodies), which cost more than the parse
/// itself. kiln reports the lexer's and the grammar's errors, which are
/// PostgreSQL's syntax errors; the rest PostgreSQL reports when it runs.
pub fn parse(text: &str) -> Parsed {
    if let Some(deep) = too_complex(text) {
        return Parsed { too_complex: Some(deep), ..Parsed::default() };
    }
    let lexed = squawk_parser::LexedStr::new(text);
    let output = squawk_parser::EntryPoint::SourceFile.parse(&lexed.to_input());
    let mut builder = rowan::GreenNodeBuilder::new();
    let mut errors: Vec<(String, Range<usize>)> = Vec::new();
    lexed.intersperse_trivia(&output, &mut |step| match step {
        squawk_parser::StrStep::Token { kind, text } => builder.token(rowan::SyntaxKind(kind.into()), text),
        squawk_parser::StrStep::Enter { kind } => builder.start_node(rowan::SyntaxKind(kind.into())),
        squawk_parser::StrStep::Exit => builder.finish_node(),
        squawk_parser::StrStep::Error { msg, pos } => errors.push((msg.to_string(), pos..pos)),
    });
    errors.extend(lexed.errors().map(|(r, msg)| (msg.to_string(), r.start as usize..r.end as usize)));
    errors.sort_by_key(|e| e.1.start);
    let root = SyntaxNode::new_root(builder.finish());
    let stmts = match ast::SourceFile::cast(root) {
        Some(file) => file.stmts().map(|s| Stmt { span: node_span(s.syntax()), op: lower(&s), tx: transaction_class(&s) }).collect(),
        None => Vec::new(),
    };
    Parsed { stmts, errors, too_complex: None }
}

/// A rowan `TextRange` as a byte range (rowan is not a direct dependency,
/// so its type is not named).
macro_rules! range {
    ($r:expr) => {{
        let r = $r;
        usize::from(r.start())..usize::from(r.end())
    }};
}

/// The node's span without leading or trailing trivia (comments, spaces).
fn node_span(node: &SyntaxNode) -> Range<usize> {
    let whole = range!(node.text_range());
    let inside = |t: &squawk_syntax::SyntaxToken| {
        let r = range!(t.text_range());
        r.start >= whole.start && r.end <= whole.end
    };
    let mut first = node.first_token();
    while let Some(t) = first.as_ref().filter(|t| t.kind().is_trivia() && inside(t)) {
        first = t.next_token();
    }
    let mut last = node.last_token();
    while let Some(t) = last.as_ref().filter(|t| t.kind().is_trivia() && inside(t)) {
        last = t.prev_token();
    }
    match (first.filter(|t| inside(t)), last.filter(|t| inside(t))) {
        (Some(f), Some(l)) if range!(f.text_range()).start <= range!(l.text_range()).end => {
            range!(f.text_range()).start..range!(l.text_range()).end
        }
        _ => whole,
    }
}

/// Folds an identifier as PostgreSQL does.
fn fold(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => text.to_lowercase(),
    }
}

/// The non-trivia tokens of a node.
fn tokens(node: &SyntaxNode) -> impl Iterator<Item = squawk_syntax::SyntaxToken> {
    node.descendants_with_tokens().filter_map(|e| e.into_token()).filter(|t| !t.kind().is_trivia())
}

fn ident(node: &SyntaxNode) -> Ident {
    // Most names are one token: no need to walk the subtree.
    if let (Some(first), Some(last)) = (node.first_token(), node.last_token()) {
        if first == last {
            return Ident { value: fold(first.text()), span: range!(first.text_range()) };
        }
    }
    let text: String = tokens(node).map(|t| t.text().to_string()).collect();
    Ident { value: fold(&text), span: node_span(node) }
}

fn qname(node: &SyntaxNode) -> QName {
    let mut parts = vec![String::new()];
    for t in tokens(node) {
        if t.kind() == SyntaxKind::DOT {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("one part").push_str(t.text());
        }
    }
    let name = fold(&parts.pop().unwrap_or_default());
    let schema = parts.pop().map(|s| fold(&s));
    QName { schema, name, span: node_span(node) }
}

/// Canonical type spelling: tokens joined (a space only between two words),
/// lowercased, with PostgreSQL's aliases resolved.
fn type_ref(node: &SyntaxNode) -> TypeRef {
    let mut written = String::new();
    // Previous token: 1 = a word, 2 = `)`.
    let mut prev = 0;
    for t in tokens(node) {
        let text = t.text();
        let word = text.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '"');
        if word && prev != 0 {
            written.push(' ');
        }
        written.push_str(text);
        prev = if word {
            1
        } else if text == ")" {
            2
        } else {
            0
        };
    }
    let lower = fold_type(&written);
    let (canonical, serial) = canonical_type(&lower);
    TypeRef { canonical, written, serial, span: node_span(node) }
}

fn fold_type(written: &str) -> String {
    // Quoted parts keep their case; the rest folds.
    let mut out = String::new();
    let mut quoted = false;
    for c in written.chars() {
        if c == '"' {
            quoted = !quoted;
            continue;
        }
        if quoted {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out.strip_prefix("pg_catalog.").map(str::to_string).unwrap_or(out)
}

/// PostgreSQL's type aliases, longest first; each must be followed by the end,
/// `(`, `[` or a space.
const ALIASES: &[(&str, &str)] = &[
    ("character varying", "varchar"),
    ("timestamp without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"),
    ("time without time zone", "time"),
    ("time with time zone", "timetz"),
    ("double precision", "double precision"),
    ("smallserial", "smallint"),
    ("bigserial", "bigint"),
    ("character", "char"),
    ("serial2", "smallint"),
    ("serial4", "integer"),
    ("serial8", "bigint"),
    ("integer", "integer"),
    ("decimal", "numeric"),
    ("boolean", "boolean"),
    ("bpchar", "char"),
    ("serial", "integer"),
    ("float8", "double precision"),
    ("float4", "real"),
    ("bool", "boolean"),
    ("int2", "smallint"),
    ("int4", "integer"),
    ("int8", "bigint"),
    ("int", "integer"),
];

fn canonical_type(lower: &str) -> (String, bool) {
    // `timestamp(3) with time zone` puts the precision in the middle.
    for (base, tz) in [("timestamp", "timestamptz"), ("time", "timetz")] {
        if let Some(rest) = lower.strip_prefix(base).filter(|r| r.starts_with('(')) {
            if let Some(close) = rest.find(')') {
                let (prec, tail) = rest.split_at(close + 1);
                match tail.trim_start() {
                    t if t.starts_with("with time zone") => return (format!("{tz}{prec}{}", &t["with time zone".len()..]), false),
                    t if t.starts_with("without time zone") => return (format!("{base}{prec}{}", &t["without time zone".len()..]), false),
                    _ => {}
                }
            }
        }
    }
    for (alias, canonical) in ALIASES {
        if let Some(rest) = lower.strip_prefix(alias) {
            if rest.is_empty() || rest.starts_with(['(', '[', ' ']) {
                return (format!("{canonical}{rest}"), alias.contains("serial"));
            }
        }
    }
    (lower.to_string(), false)
}

/// Functions whose value changes per row: a column added with one as its
/// default makes PostgreSQL rewrite the whole table.
const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
    "random_normal",
    "uuidv4",
    "uuidv7",
];

fn default_expr(node: &SyntaxNode) -> DefaultExpr {
    let text = tokens(node).map(|t| t.text().to_string()).collect::<Vec<_>>().join(" ");
    let volatile = node
        .descendants()
        .filter(|n| n.kind() == SyntaxKind::CALL_EXPR)
        .filter_map(|call| call.children().next())
        .map(|callee| qname(&callee).name)
        .find(|f| VOLATILE.contains(&f.as_str()));
    DefaultExpr { text, volatile, span: node_span(node) }
}

fn column_refs(node: &SyntaxNode) -> Vec<String> {
    node.descendants().filter(|n| n.kind() == SyntaxKind::COLUMN_NAME_REF).map(|n| ident(&n).value).collect()
}

fn constraint_name(c: &ast::Constraint) -> Option<Ident> {
    c.constraint_name().map(|n| ident(n.syntax()))
}

/// Lowers a constraint; `column` is the column it is written on, if any.
/// `None` for `NOT NULL`, `NULL`, `DEFAULT` and generated columns, which are
/// column properties rather than constraints.
/// A foreign key's clauses after its reference (from byte `after`), as
/// upper-case words, without `NOT VALID` (kept apart) and without what
/// PostgreSQL does anyway, so that equal behaviour compares equal.
fn fk_options(node: &SyntaxNode, after: usize) -> String {
    let mut words: Vec<String> =
        tokens(node).filter(|t| usize::from(t.text_range().start()) >= after).map(|t| t.text().to_ascii_uppercase()).collect();
    // A column list closing the reference may start the range.
    while words.first().is_some_and(|w| w == ")") {
        words.remove(0);
    }
    let mut text = format!(" {} ", words.join(" "));
    for default in
        [" NOT VALID ", " ON DELETE NO ACTION ", " ON UPDATE NO ACTION ", " NOT DEFERRABLE ", " INITIALLY IMMEDIATE ", " MATCH SIMPLE "]
    {
        while let Some(i) = text.find(default) {
            text.replace_range(i..i + default.len(), " ");
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn constraint(c: &ast::Constraint, column: Option<&str>) -> Option<ConstraintDef> {
    let own = || column.map(|c| vec![c.to_string()]).unwrap_or_default();
    let kind = match c {
        ast::Constraint::PrimaryKeyConstraint(pk) => {
            let cols = pk.index_parameters().map(|p| column_refs(p.syntax())).unwrap_or_default();
            ConstraintKind::PrimaryKey(if column.is_some() { own() } else { cols })
        }
        ast::Constraint::UniqueConstraint(u) => {
            let cols = u.index_parameters().map(|p| column_refs(p.syntax())).unwrap_or_default();
            ConstraintKind::Unique(if column.is_some() { own() } else { cols })
        }
        ast::Constraint::ForeignKeyConstraint(fk) => {
            let table = fk.table_name_ref()?;
            let end = fk.to_columns().map_or(table.syntax().text_range().end(), |c| c.syntax().text_range().end());
            ConstraintKind::ForeignKey {
                columns: fk.from_columns().map(|l| column_refs(l.syntax())).unwrap_or_default(),
                table: qname(table.syntax()),
                ref_columns: fk.to_columns().map(|l| column_refs(l.syntax())).unwrap_or_default(),
                options: fk_options(c.syntax(), usize::from(end)),
            }
        }
        ast::Constraint::ReferencesConstraint(r) => {
            let table = r.table()?;
            let end = r.column().map_or(table.syntax().text_range().end(), |c| c.syntax().text_range().end());
            ConstraintKind::ForeignKey {
                columns: own(),
                table: qname(table.syntax()),
                ref_columns: r.column().map(|c| vec![ident(c.syntax()).value]).unwrap_or_default(),
                options: fk_options(c.syntax(), usize::from(end)),
            }
        }
        ast::Constraint::CheckConstraint(ch) => ConstraintKind::Check(if column.is_some() {
            own()
        } else {
            let mut cols: Vec<String> = ch
                .expr()
                .map(|e| e.syntax().descendants().filter(|n| n.kind() == SyntaxKind::NAME_REF).map(|n| ident(&n).value).collect())
                .unwrap_or_default();
            cols.dedup();
            cols
        }),
        ast::Constraint::ExcludeConstraint(_) => ConstraintKind::Exclude,
        ast::Constraint::NotNullConstraint(_)
        | ast::Constraint::NullConstraint(_)
        | ast::Constraint::DefaultConstraint(_)
        | ast::Constraint::GeneratedConstraint(_) => return None,
    };
    Some(ConstraintDef {
        name: constraint_name(c),
        kind,
        not_valid: c.is_not_valid(),
        body: constraint_body(c),
        span: node_span(c.syntax()),
    })
}

/// A constraint's tokens without `CONSTRAINT <name>` and `NOT VALID`.
fn constraint_body(c: &ast::Constraint) -> String {
    let skip = c.constraint_name().map(|n| usize::from(n.syntax().text_range().end()));
    let words: Vec<String> = tokens(c.syntax())
        .filter(|t| skip.is_none_or(|end| usize::from(t.text_range().start()) >= end))
        .map(|t| t.text().to_string())
        .collect();
    let mut text = words.join(" ");
    for not_valid in [" NOT VALID", " not valid"] {
        if let Some(stripped) = text.strip_suffix(not_valid) {
            text = stripped.to_string();
        }
    }
    text
}

/// The tokens of `node` from byte `from` on, one space apart.
fn tokens_after(node: &SyntaxNode, from: usize) -> String {
    tokens(node)
        .filter(|t| usize::from(t.text_range().start()) >= from && t.kind() != SyntaxKind::SEMICOLON)
        .map(|t| t.text().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A column definition from its name, type and the constraint nodes after them.
fn column_def(node: &SyntaxNode, name: Option<SyntaxNode>, ty: Option<SyntaxNode>) -> Option<ColumnDef> {
    let name = ident(&name?);
    let ty = ty.map(|t| type_ref(&t));
    let mut def = ColumnDef { name, ty, not_null: false, default: None, generated: None, constraints: Vec::new(), span: node_span(node) };
    // Column constraints are the definition's direct children.
    for c in node.children().filter_map(ast::Constraint::cast) {
        match &c {
            ast::Constraint::NotNullConstraint(_) | ast::Constraint::PrimaryKeyConstraint(_) => def.not_null = true,
            ast::Constraint::DefaultConstraint(d) => def.default = d.expr().map(|e| default_expr(e.syntax())),
            ast::Constraint::GeneratedConstraint(g) => {
                def.generated = Some(tokens(g.syntax()).map(|t| t.text().to_string()).collect::<Vec<_>>().join(" "))
            }
            _ => {}
        }
        if let Some(lowered) = constraint(&c, Some(&def.name.value)) {
            def.constraints.push(lowered);
        }
    }
    Some(def)
}

fn lower(stmt: &ast::Stmt) -> Op {
    use ast::Stmt as S;
    match stmt {
        S::CreateTable(ct) => create_table(ct).unwrap_or(Op::Opaque("CREATE TABLE")),
        S::AlterTable(at) => match at.table_relation_name().and_then(|r| r.table_name_ref()) {
            Some(t) => Op::AlterTable {
                table: qname(t.syntax()),
                if_exists: at.if_exists().is_some(),
                actions: at.actions().map(|a| (node_span(a.syntax()), action(&a))).collect(),
            },
            None => Op::Opaque("ALTER TABLE ... ALL IN TABLESPACE"),
        },
        S::CreateIndex(ci) => match ci.table_relation_name().and_then(|r| r.table_name_ref()) {
            Some(t) => Op::CreateIndex(CreateIndex {
                name: ci.index().and_then(|i| i.path()).map(|p| {
                    let q = qname(p.syntax());
                    Ident { value: q.name, span: q.span }
                }),
                table: qname(t.syntax()),
                columns: ci
                    .partition_item_list()
                    .map(|l| {
                        l.partition_items()
                            .map(|item| match item.expr() {
                                Some(e) if e.syntax().kind() == SyntaxKind::NAME_REF => Some(ident(e.syntax()).value),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                unique: ci.unique_token().is_some(),
                concurrently: ci.concurrently_token().map(|t| range!(t.text_range())),
                if_not_exists: ci.if_not_exists().is_some(),
                rest: tokens_after(ci.syntax(), usize::from(t.syntax().text_range().end())),
            }),
            None => Op::Opaque("CREATE INDEX"),
        },
        S::DropIndex(di) => Op::DropIndex {
            indexes: di.index_refs().map(|r| qname(r.syntax())).collect(),
            concurrently: di.concurrently_token().map(|t| range!(t.text_range())),
        },
        S::DropTable(dt) => Op::DropTable(dt.table_name_refs().map(|r| qname(r.syntax())).collect()),
        S::AlterIndex(ai) => alter_index(ai.syntax()),
        S::CreateTableAs(c) => c
            .syntax()
            .children()
            .find(|n| n.kind() == SyntaxKind::TABLE_NAME)
            .map_or(Op::Opaque("CREATE TABLE AS"), |n| Op::CreateTableAs(qname(&n))),
        S::SelectInto(_) => Op::Opaque("SELECT INTO"),
        S::Insert(_) => Op::Data("INSERT"),
        S::Update(_) => Op::Data("UPDATE"),
        S::Delete(_) => Op::Data("DELETE"),
        S::Merge(_) => Op::Data("MERGE"),
        S::Copy(_) => Op::Data("COPY"),
        S::Truncate(_) => Op::Data("TRUNCATE"),
        S::Do(_) => Op::Opaque("DO"),
        S::Call(_) => Op::Opaque("CALL"),
        S::Execute(_) => Op::Opaque("EXECUTE"),
        S::DropSchema(_) => Op::Opaque("DROP SCHEMA"),
        S::DropOwned(_) => Op::Opaque("DROP OWNED"),
        S::AlterSchema(_) => Op::Opaque("ALTER SCHEMA"),
        S::ImportForeignSchema(_) => Op::Opaque("IMPORT FOREIGN SCHEMA"),
        // `DROP ... CASCADE` can drop columns, defaults, views and triggers.
        S::DropType(_)
        | S::DropDomain(_)
        | S::DropExtension(_)
        | S::DropFunction(_)
        | S::DropView(_)
        | S::DropMaterializedView(_)
        | S::DropSequence(_)
            if has_cascade(stmt.syntax()) =>
        {
            Op::Opaque("DROP ... CASCADE")
        }
        S::CreateFunction(f) => object("function", f.name().and_then(|n| n.path()).map(|p| p.syntax().clone()), f.or_replace().is_some()),
        S::CreateView(v) => object("view", v.view().and_then(|n| n.path()).map(|p| p.syntax().clone()), v.or_replace().is_some()),
        S::CreateMaterializedView(v) => {
            object("materialized view", v.view().and_then(|n| n.path()).map(|p| p.syntax().clone()), v.if_not_exists().is_some())
        }
        S::CreateType(t) => match (t.type_name().and_then(|n| n.path()), t.kind()) {
            (Some(name), Some(ast::CreateTypeKind::EnumType(e))) => Op::CreateEnum {
                name: qname(name.syntax()),
                values: e.variant_list().map(|l| l.variants().flat_map(|v| strings(v.syntax())).collect()).unwrap_or_default(),
            },
            (name, _) => object("type", name.map(|p| p.syntax().clone()), false),
        },
        S::AlterType(t) => match (t.type_name_ref(), t.action()) {
            (Some(name), Some(ast::AlterTypeAction::AddValue(add))) => {
                let mut found = strings(add.syntax()).into_iter();
                let after =
                    add.value_position().is_some_and(|p| p.syntax().children_with_tokens().any(|t| t.kind() == SyntaxKind::AFTER_KW));
                match found.next() {
                    Some(value) => Op::EnumValue { name: qname(name.syntax()), value, anchor: found.next(), after, renamed: None },
                    None => Op::OtherDdl,
                }
            }
            (Some(name), Some(ast::AlterTypeAction::RenameValue(r))) => match &strings(r.syntax())[..] {
                [old, new] => {
                    Op::EnumValue { name: qname(name.syntax()), value: new.clone(), anchor: None, after: false, renamed: Some(old.clone()) }
                }
                _ => Op::OtherDdl,
            },
            (Some(name), Some(ast::AlterTypeAction::TypeRenameTo(r))) => match r.type_name() {
                Some(to) => Op::RenameType { from: qname(name.syntax()), to: qname(to.syntax()).name },
                None => Op::OtherDdl,
            },
            _ => Op::OtherDdl,
        },
        S::CreateSequence(q) => {
            object("sequence", q.sequence().and_then(|n| n.path()).map(|p| p.syntax().clone()), q.if_not_exists().is_some())
        }
        S::CreateTrigger(t) => match (t.trigger().and_then(|n| n.ident_token()), t.on_relation().and_then(|r| r.relation_name_ref())) {
            (Some(name), Some(table)) => Op::CreateObject {
                kind: "trigger",
                name: trigger_name(&name, &qname(table.syntax())),
                or_replace: t.or_replace().is_some(),
            },
            _ => Op::OtherDdl,
        },
        S::DropFunction(d) => Op::DropObject {
            kind: "function",
            names: d
                .function_sig_list()
                .map(|l| l.function_sigs().filter_map(|s| s.function_name_ref()).map(|n| qname(n.syntax())).collect())
                .unwrap_or_default(),
        },
        S::DropView(d) => Op::DropObject { kind: "view", names: d.view_refs().map(|r| qname(r.syntax())).collect() },
        S::DropMaterializedView(d) => {
            Op::DropObject { kind: "materialized view", names: d.view_refs().map(|r| qname(r.syntax())).collect() }
        }
        S::DropType(d) => Op::DropObject { kind: "type", names: d.type_name_refs().map(|r| qname(r.syntax())).collect() },
        S::DropSequence(d) => Op::DropObject { kind: "sequence", names: d.sequence_refs().map(|r| qname(r.syntax())).collect() },
        S::DropTrigger(d) => match (d.trigger_ref().and_then(|r| r.ident_token()), d.on_relation().and_then(|r| r.relation_name_ref())) {
            (Some(name), Some(table)) => Op::DropObject { kind: "trigger", names: vec![trigger_name(&name, &qname(table.syntax()))] },
            _ => Op::OtherDdl,
        },
        S::Select(_)
        | S::CompoundSelect(_)
        | S::ParenSelect(_)
        | S::Values(_)
        | S::Table(_)
        | S::Set(_)
        | S::Reset(_)
        | S::Show(_)
        | S::Explain(_)
        | S::Analyze(_)
        | S::Vacuum(_)
        | S::Lock(_)
        | S::Notify(_)
        | S::Listen(_)
        | S::Unlisten(_)
        | S::Begin(_)
        | S::Commit(_)
        | S::Rollback(_)
        | S::SavepointCreate(_)
        | S::ReleaseSavepoint(_)
        | S::SetConstraints(_)
        | S::SetRole(_)
        | S::ResetRole(_)
        | S::SetSessionAuth(_)
        | S::ResetSessionAuth(_)
        | S::SetTransaction(_)
        | S::Checkpoint(_)
        | S::Discard(_)
        | S::Load(_)
        | S::Prepare(_)
        | S::Deallocate(_)
        | S::Declare(_)
        | S::Fetch(_)
        | S::Move(_)
        | S::Close(_)
        | S::EmptyStmt(_) => Op::Neutral,
        _ => Op::OtherDdl,
    }
}

/// Which statements end or open a transaction, and which PostgreSQL refuses
/// inside one (the callers of `PreventInTransactionBlock` in PostgreSQL 15).
fn transaction_class(stmt: &ast::Stmt) -> Tx {
    use ast::Stmt as S;
    // The words are read only when an arm below asks for them, so most
    // statements cost nothing here. Statements of these kinds are short,
    // except ALTER TABLE, of which only the actions' own tokens are read
    // (DETACH PARTITION's `CONCURRENTLY` is a direct child of its action).
    let cell = std::cell::OnceCell::new();
    let words = || -> &Vec<squawk_syntax::SyntaxToken> {
        cell.get_or_init(|| match stmt {
            S::AlterTable(at) => at
                .actions()
                .flat_map(|a| a.syntax().children_with_tokens().filter_map(|e| e.into_token()).collect::<Vec<_>>())
                .filter(|t| !t.kind().is_trivia())
                .collect(),
            _ => tokens(stmt.syntax()).collect(),
        })
    };
    let has = |kind: SyntaxKind| words().iter().any(|t| t.kind() == kind);
    let concurrently = || words().iter().find(|t| t.kind() == SyntaxKind::CONCURRENTLY_KW).map(|t| range!(t.text_range()));
    let first = || words().first().map(|t| t.kind());
    // `repeatable`: running it again after an interruption is harmless.
    let outside = |what: &'static str, repeatable: bool| Tx::Outside { what, concurrently: concurrently(), repeatable };
    match stmt {
        S::Begin(_) => Tx::Control(if first() == Some(SyntaxKind::START_KW) { "START TRANSACTION" } else { "BEGIN" }),
        S::Commit(_) if has(SyntaxKind::PREPARED_KW) => Tx::Control("COMMIT PREPARED"),
        S::Commit(_) => Tx::Control(if first() == Some(SyntaxKind::END_KW) { "END" } else { "COMMIT" }),
        S::Rollback(_) if has(SyntaxKind::TO_KW) => Tx::Plain,
        S::Rollback(_) if has(SyntaxKind::PREPARED_KW) => Tx::Control("ROLLBACK PREPARED"),
        S::Rollback(_) => Tx::Control(if first() == Some(SyntaxKind::ABORT_KW) { "ABORT" } else { "ROLLBACK" }),
        S::PrepareTransaction(_) => Tx::Control("PREPARE TRANSACTION"),
        S::Vacuum(_) => outside("VACUUM", true),
        S::CreateIndex(_) if concurrently().is_some() => outside("CREATE INDEX CONCURRENTLY", false),
        S::DropIndex(_) if concurrently().is_some() => outside("DROP INDEX CONCURRENTLY", false),
        S::Reindex(_) if concurrently().is_some() => outside("REINDEX CONCURRENTLY", true),
        S::Reindex(_) if has(SyntaxKind::DATABASE_KW) || has(SyntaxKind::SYSTEM_KW) => outside("REINDEX DATABASE", true),
        S::AlterTable(_) if concurrently().is_some() => outside("ALTER TABLE ... DETACH PARTITION CONCURRENTLY", false),
        S::CreateDatabase(_) => outside("CREATE DATABASE", false),
        S::DropDatabase(_) => outside("DROP DATABASE", false),
        S::AlterDatabase(_) if has(SyntaxKind::TABLESPACE_KW) && !has(SyntaxKind::OWNER_KW) => {
            outside("ALTER DATABASE ... SET TABLESPACE", false)
        }
        S::CreateTablespace(_) => outside("CREATE TABLESPACE", false),
        S::DropTablespace(_) => outside("DROP TABLESPACE", false),
        S::AlterSystem(_) => outside("ALTER SYSTEM", true),
        S::Cluster(_) if words().len() == 1 || (words().len() == 2 && has(SyntaxKind::VERBOSE_KW)) => outside("CLUSTER", true),
        S::CreateSubscription(_) => outside("CREATE SUBSCRIPTION", false),
        S::DropSubscription(_) => outside("DROP SUBSCRIPTION", false),
        S::Discard(_) if has(SyntaxKind::ALL_KW) => outside("DISCARD ALL", true),
        _ => Tx::Plain,
    }
}

/// The string literals under `node`, unquoted, in order.
fn strings(node: &SyntaxNode) -> Vec<String> {
    node.descendants_with_tokens()
        .filter_map(|t| t.into_token())
        .filter(|t| t.kind() == SyntaxKind::STRING)
        .filter_map(|t| t.text().strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).map(|x| x.replace("''", "'")))
        .collect()
}

/// An object's creation, from the path node of its name.
fn object(kind: &'static str, path: Option<SyntaxNode>, or_replace: bool) -> Op {
    match path {
        Some(p) => Op::CreateObject { kind, name: qname(&p), or_replace },
        None => Op::OtherDdl,
    }
}

/// A trigger belongs to its table: `<trigger> on <table>`.
fn trigger_name(token: &squawk_syntax::SyntaxToken, table: &QName) -> QName {
    QName { schema: None, name: format!("{} on {}", fold(token.text()), table.key()), span: range!(token.text_range()) }
}

fn has_cascade(node: &SyntaxNode) -> bool {
    tokens(node).any(|t| t.kind() == SyntaxKind::CASCADE_KW)
}

/// `ALTER INDEX a RENAME TO b` is followed; other forms change nothing the model holds.
fn alter_index(node: &SyntaxNode) -> Op {
    let toks: Vec<_> = tokens(node).collect();
    let rename = toks.windows(2).position(|w| w[0].kind() == SyntaxKind::RENAME_KW && w[1].kind() == SyntaxKind::TO_KW);
    let path = node.children().find(|n| matches!(n.kind(), SyntaxKind::PATH_REF | SyntaxKind::PATH | SyntaxKind::INDEX_REF));
    match (rename, path) {
        (Some(i), Some(path)) if i + 2 < toks.len() => {
            let to = &toks[i + 2];
            Op::RenameIndex(qname(&path), Ident { value: fold(to.text()), span: range!(to.text_range()) })
        }
        (Some(_), _) => Op::Opaque("ALTER INDEX ... RENAME"),
        _ => Op::OtherDdl,
    }
}

fn create_table(ct: &ast::CreateTable) -> Option<Op> {
    let table = qname(ct.table_name()?.syntax());
    let mut columns = Vec::new();
    let mut constraints = Vec::new();
    let mut partial = ct.inherits().is_some() || ct.partition_of().is_some() || ct.of_type().is_some();
    if let Some(args) = ct.table_arg_list() {
        for arg in args.args() {
            match arg {
                ast::TableArg::Column(c) => {
                    match column_def(c.syntax(), c.name().map(|n| n.syntax().clone()), c.ty().map(|t| t.syntax().clone())) {
                        Some(def) => columns.push(def),
                        None => partial = true,
                    }
                }
                ast::TableArg::TableConstraint(tc) => {
                    if let Some(c) = ast::Constraint::cast(tc.syntax().clone()).and_then(|c| constraint(&c, None)) {
                        constraints.push(c);
                    }
                }
                ast::TableArg::LikeClause(_) => partial = true,
            }
        }
    }
    Some(Op::CreateTable(CreateTable { table, columns, constraints, if_not_exists: ct.if_not_exists().is_some(), partial }))
}

fn action(a: &ast::AlterTableAction) -> Action {
    use ast::AlterTableAction as A;
    let col = |r: Option<ast::ColumnNameRef>| r.map(|r| ident(r.syntax()));
    match a {
        A::AddColumn(ac) => column_def(ac.syntax(), ac.column_name().map(|n| n.syntax().clone()), ac.ty().map(|t| t.syntax().clone()))
            .map_or(Action::Unknown("ADD COLUMN"), Action::AddColumn),
        A::DropColumn(dc) => col(dc.column_name_ref()).map_or(Action::Unknown("DROP COLUMN"), Action::DropColumn),
        A::AlterColumn(ac) => {
            let Some(c) = col(ac.column_name_ref()) else { return Action::Unknown("ALTER COLUMN") };
            use ast::AlterColumnOption as O;
            match ac.option() {
                Some(O::SetType(st)) => st.ty().map_or(Action::Unknown("ALTER COLUMN TYPE"), |t| Action::SetType(c, type_ref(t.syntax()))),
                Some(O::SetNotNull(_)) => Action::SetNotNull(c),
                Some(O::DropNotNull(_)) => Action::DropNotNull(c),
                Some(O::SetDefault(sd)) => {
                    sd.expr().map_or(Action::Unknown("SET DEFAULT"), |e| Action::SetDefault(c, default_expr(e.syntax())))
                }
                Some(O::DropDefault(_)) => Action::DropDefault(c),
                Some(
                    O::SetStatistics(_)
                    | O::SetStorage(_)
                    | O::SetCompression(_)
                    | O::SetOptions(_)
                    | O::ResetOptions(_)
                    | O::SetOptionsList(_),
                ) => Action::Inert,
                _ => Action::Unknown("ALTER COLUMN"),
            }
        }
        A::AddConstraint(ac) => {
            ac.constraint().and_then(|c| constraint(&c, None)).map_or(Action::Unknown("ADD CONSTRAINT"), Action::AddConstraint)
        }
        A::DropConstraint(dc) => dc.constraint_name_ref().map_or(Action::Unknown("DROP CONSTRAINT"), |n| {
            let q = qname(n.syntax());
            Action::DropConstraint(Ident { value: q.name, span: q.span })
        }),
        A::RenameColumn(rc) => match (col(rc.column_name_ref()), rc.column_name()) {
            (Some(from), Some(to)) => Action::RenameColumn(from, ident(to.syntax())),
            _ => Action::Unknown("RENAME COLUMN"),
        },
        A::RenameConstraint(rc) => match (rc.constraint_name_ref(), rc.constraint_name()) {
            (Some(from), Some(to)) => {
                let q = qname(from.syntax());
                Action::RenameConstraint(Ident { value: q.name, span: q.span }, ident(to.syntax()))
            }
            _ => Action::Unknown("RENAME CONSTRAINT"),
        },
        A::TableRenameTo(rt) => rt.table_name().map_or(Action::Unknown("RENAME TO"), |n| {
            let q = qname(n.syntax());
            Action::RenameTable(Ident { value: q.name, span: q.span })
        }),
        A::ValidateConstraint(_)
        | A::OwnerTo(_)
        | A::EnableRls(_)
        | A::DisableRls(_)
        | A::ForceRls(_)
        | A::NoForceRls(_)
        | A::EnableTrigger(_)
        | A::DisableTrigger(_)
        | A::EnableAlwaysTrigger(_)
        | A::EnableReplicaTrigger(_)
        | A::EnableRule(_)
        | A::DisableRule(_)
        | A::EnableAlwaysRule(_)
        | A::EnableReplicaRule(_)
        | A::ReplicaIdentity(_)
        | A::SetOptions(_)
        | A::ResetOptions(_)
        | A::SetTablespace(_)
        | A::SetLogged(_)
        | A::SetUnlogged(_)
        | A::ClusterOn(_)
        | A::SetWithoutCluster(_)
        | A::SetWithoutOids(_)
        | A::SetAccessMethod(_)
        | A::AlterConstraint(_) => Action::Inert,
        A::SetSchema(_) => Action::Unknown("SET SCHEMA"),
        A::AttachPartition(_) | A::DetachPartition(_) | A::MergePartitions(_) | A::SplitPartition(_) => Action::Unknown("partitions"),
        A::InheritTable(_) | A::NoInheritTable(_) | A::OfType(_) | A::NotOf(_) => Action::Unknown("inheritance"),
        A::AlterOptionList(_) | A::OptionItemList(_) => Action::Inert,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Op {
        let p = parse(sql);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.stmts.len(), 1);
        p.stmts.into_iter().next().unwrap().op
    }

    #[test]
    fn create_table_columns_and_constraints() {
        let Op::CreateTable(ct) = one(
            "CREATE TABLE s.\"Teams\" (id character varying(26) NOT NULL PRIMARY KEY, u int REFERENCES x(id), ts timestamp(3) with time zone DEFAULT now(), \
             CONSTRAINT uq_t_a UNIQUE (a, b), CONSTRAINT fk FOREIGN KEY (a) REFERENCES \"Y\"(b) NOT VALID, CHECK (a > b))",
        ) else {
            panic!()
        };
        assert_eq!(ct.table.key(), "s.Teams");
        let cols: Vec<(&str, &str, bool)> =
            ct.columns.iter().map(|c| (c.name.value.as_str(), c.ty.as_ref().unwrap().canonical.as_str(), c.not_null)).collect();
        assert_eq!(cols, [("id", "varchar(26)", true), ("u", "integer", false), ("ts", "timestamptz(3)", false)]);
        assert_eq!(ct.columns[0].constraints[0].kind, ConstraintKind::PrimaryKey(vec!["id".into()]));
        assert!(matches!(&ct.columns[1].constraints[0].kind, ConstraintKind::ForeignKey { columns, table, ref_columns, .. }
            if columns == &["u"] && table.name == "x" && ref_columns == &["id"]));
        assert_eq!(ct.columns[2].default.as_ref().unwrap().text, "now ( )");
        assert_eq!(ct.constraints[0].kind, ConstraintKind::Unique(vec!["a".into(), "b".into()]));
        assert_eq!(ct.constraints[0].name.as_ref().unwrap().value, "uq_t_a");
        assert!(ct.constraints[1].not_valid);
        assert!(matches!(&ct.constraints[1].kind, ConstraintKind::ForeignKey { table, .. } if table.name == "Y"));
        assert_eq!(ct.constraints[2].kind, ConstraintKind::Check(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn enum_types_and_their_values() {
        assert!(
            matches!(one("CREATE TYPE s.k AS ENUM ('a', 'it''s')"), Op::CreateEnum { name, values } if name.key() == "s.k" && values == ["a", "it's"])
        );
        assert!(matches!(one("CREATE TYPE k AS (a int)"), Op::CreateObject { kind: "type", .. }));
        assert!(matches!(one("ALTER TYPE k ADD VALUE IF NOT EXISTS 'c' AFTER 'a'"),
            Op::EnumValue { value, anchor: Some(a), after: true, renamed: None, .. } if value == "c" && a == "a"));
        assert!(matches!(one("ALTER TYPE k ADD VALUE 'c' BEFORE 'a'"), Op::EnumValue { after: false, anchor: Some(_), .. }));
        assert!(matches!(one("ALTER TYPE k ADD VALUE 'c'"), Op::EnumValue { anchor: None, .. }));
        assert!(
            matches!(one("ALTER TYPE k RENAME VALUE 'a' TO 'b'"), Op::EnumValue { value, renamed: Some(old), .. } if value == "b" && old == "a")
        );
        assert!(matches!(one("ALTER TYPE s.k RENAME TO k2"), Op::RenameType { from, to } if from.key() == "s.k" && to == "k2"));
    }

    #[test]
    fn alter_table_actions() {
        let Op::AlterTable { table, actions, .. } =
            one("ALTER TABLE ONLY t ADD COLUMN c serial NOT NULL DEFAULT random(), ALTER COLUMN c TYPE text, RENAME COLUMN a TO b, OWNER TO x, SET SCHEMA y")
        else {
            panic!()
        };
        assert_eq!(table.key(), "t");
        let Action::AddColumn(c) = &actions[0].1 else { panic!("{:?}", actions[0]) };
        assert!(c.not_null && c.ty.as_ref().unwrap().serial);
        assert_eq!(c.default.as_ref().unwrap().volatile.as_deref(), Some("random"));
        assert!(matches!(&actions[1].1, Action::SetType(c, t) if c.value == "c" && t.canonical == "text"));
        assert!(matches!(&actions[2].1, Action::RenameColumn(a, b) if a.value == "a" && b.value == "b"));
        assert!(matches!(actions[3].1, Action::Inert));
        assert!(matches!(actions[4].1, Action::Unknown("SET SCHEMA")));
    }

    #[test]
    fn indexes_and_others() {
        let Op::CreateIndex(ci) = one("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix ON public.t (a, lower(b)) WHERE a > 0") else {
            panic!()
        };
        assert_eq!((ci.name.unwrap().value.as_str(), ci.table.key().as_str()), ("ix", "t"));
        assert_eq!(ci.columns, [Some("a".to_string()), None]);
        assert!(ci.unique && ci.concurrently.is_some() && ci.if_not_exists);
        assert!(
            matches!(one("DROP INDEX CONCURRENTLY s.ix"), Op::DropIndex { indexes, concurrently: Some(_) } if indexes[0].key() == "s.ix")
        );
        assert!(matches!(one("ALTER INDEX ix RENAME TO iy"), Op::RenameIndex(a, b) if a.name == "ix" && b.value == "iy"));
        assert!(matches!(one("DO $$ BEGIN PERFORM 1; END $$"), Op::Opaque("DO")));
        assert!(matches!(one("INSERT INTO t VALUES (1)"), Op::Data("INSERT")));
        assert!(matches!(
            one("CREATE OR REPLACE FUNCTION s.f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql"),
            Op::CreateObject { kind: "function", name, or_replace: true } if name.key() == "s.f"
        ));
        assert!(matches!(one("DROP VIEW a, s.b"), Op::DropObject { kind: "view", names } if names.len() == 2 && names[1].key() == "s.b"));
        assert!(matches!(one("DROP VIEW v CASCADE"), Op::Opaque(_)));
        assert!(matches!(
            one("DROP TRIGGER tr ON s.t"),
            Op::DropObject { kind: "trigger", names } if names[0].name == "tr on s.t"
        ));
        assert!(matches!(one("GRANT SELECT ON t TO r"), Op::OtherDdl));
        // Foreign-key actions and deferrability, less PostgreSQL's defaults.
        let fk = |sql: &str| match one(sql) {
            Op::AlterTable { actions, .. } => match &actions[0].1 {
                Action::AddConstraint(ConstraintDef { kind: ConstraintKind::ForeignKey { options, .. }, .. }) => options.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fk("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"),
            "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
        );
        assert_eq!(fk("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u ON UPDATE NO ACTION NOT VALID"), "");
        assert_eq!(fk("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) on delete set null"), "ON DELETE SET NULL");
        assert!(matches!(one("SELECT 1"), Op::Neutral));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let p = parse("CREATE TABLE t (id int);\nCREATE TABLE (;\n");
        assert!(!p.errors.is_empty());
        assert!(p.errors[0].1.start >= 25, "{:?}", p.errors);
    }

    #[test]
    fn type_aliases() {
        for (written, canonical) in [
            ("CHARACTER VARYING(26)", "varchar(26)"),
            ("char(26)", "char(26)"),
            ("TIMESTAMP WITHOUT TIME ZONE", "timestamp"),
            ("timestamp(6) without time zone", "timestamp(6)"),
            ("int4[]", "integer[]"),
            ("BIGSERIAL", "bigint"),
            ("double precision", "double precision"),
            ("interval", "interval"),
            ("pg_catalog.int8", "bigint"),
            ("integerish", "integerish"),
        ] {
            assert_eq!(canonical_type(&fold_type(written)).0, canonical, "{written}");
        }
    }
}

#[cfg(test)]
mod valid_postgresql {
    /// Valid PostgreSQL that migrations use and kiln does not model must
    /// parse without a syntax error (the build must not break on it).
    #[test]
    fn extension_and_procedural_syntax_parses() {
        for sql in [
            "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA public",
            "CREATE EXTENSION IF NOT EXISTS postgis",
            "CREATE TABLE places (id VARCHAR(26) NOT NULL, at geometry(Point, 4326), tags text[] NOT NULL DEFAULT '{}')",
            "CREATE TYPE job_status AS ENUM ('todo', 'doing', 'failed')",
            "ALTER TYPE job_status ADD VALUE IF NOT EXISTS 'cancelled' AFTER 'failed'",
            "CREATE INDEX CONCURRENTLY ix_places_name ON places USING gin (name gin_trgm_ops)",
            "CREATE INDEX ix_events_at ON events USING brin (at) WITH (pages_per_range = 32)",
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_room EXCLUDE USING gist (room_id WITH =, during WITH &&)",
            "CREATE TABLE events (id VARCHAR(26) NOT NULL, at TIMESTAMPTZ NOT NULL) PARTITION BY RANGE (at)",
            "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
            "CREATE MATERIALIZED VIEW daily AS SELECT date_trunc('day', at) AS day, count(*) FROM events GROUP BY 1 WITH NO DATA",
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN NEW.updated_at := now(); RETURN NEW; END $fn$",
            "CREATE TRIGGER trg_users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
            "CREATE POLICY p_users_self ON users USING (id = current_setting('app.user_id'))",
            "ALTER TABLE users ENABLE ROW LEVEL SECURITY",
            "COMMENT ON COLUMN users.email IS 'lower-cased'",
            "GRANT SELECT, INSERT ON users TO app_rw",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF; END $$",
            "SELECT pg_advisory_xact_lock(42)",
            "ALTER TABLE users ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', email)) STORED",
            "ALTER TABLE users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
            "CREATE UNIQUE INDEX uq_users_email ON users (lower(email)) WHERE deleted_at IS NULL",
            "INSERT INTO plans (id, name) VALUES ('01HX', 'free') ON CONFLICT (id) DO NOTHING",
        ] {
            let parsed = super::parse(sql);
            assert!(parsed.errors.is_empty(), "{sql}: {:?}", parsed.errors);
            assert_eq!(parsed.stmts.len(), 1, "{sql}");
        }
    }
}
