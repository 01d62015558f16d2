//! The one code generator behind both delivery paths.
//!
//! [`generate`] turns a validated [`RevisionSet`] into a Rust expression of
//! type `kiln::Migrations`: a static table of revisions (metadata, SQL byte
//! ranges, checksums) and the precomputed history order. It is data, not
//! logic: all behaviour stays in kiln-core. The `embed_migrations!` macro
//! returns these tokens as they are; build.rs writes them to `OUT_DIR` through
//! [`render_file`], which lays them out readably (one field per line) without
//! pulling a formatter into every user's build.
//!
//! Each file is embedded with `include_str!` on its absolute path, so rustc
//! tracks it and an edit rebuilds the crate. Each embedded text passes
//! through `checked_source`, a `const fn` that compares its length with the
//! length kiln validated, so a file changed between validation and
//! compilation fails the build instead of shipping wrong byte ranges.
//!
//! Shape matters for compile time: an earlier version indexed one big
//! `const` array of sources from each revision, which rustc's const
//! evaluation copies per use (10,000 revisions: 14 s of rustc instead of
//! about 2 s). Each revision now names its own `include_str!`.
//!
//! The generated code names `::kiln::__private_v0_3`, a hidden module of the
//! runtime that exists only in the matching version: tables from another
//! kiln-core version do not compile against this runtime.

use proc_macro2::{Delimiter, Literal, Spacing, TokenStream, TokenTree};
use quote::quote;

use crate::validate::RevisionSet;

/// The hidden runtime path generated code refers to; changes with the format.
///
/// `v0_2` added each section's statements (ranges and kinds from the build's
/// parser) to `Revision`; `v0_3` its executable checksum (`checksum_v2`).
pub const PRIVATE_PATH: &str = "__private_v0_3";

/// The expression for a validated set. Files must have absolute paths.
pub fn generate(set: &RevisionSet) -> Result<TokenStream, String> {
    let private = quote::format_ident!("{}", PRIVATE_PATH);
    let n = set.revisions.len();
    let mut revisions = Vec::with_capacity(n);
    for r in &set.revisions {
        let Some(path) = &r.path else {
            return Err(format!("revision file `{}` has no path on disk to embed", r.file_name));
        };
        let Some(path) = path.to_str() else {
            return Err(format!("path of `{}` is not valid UTF-8: {}", r.file_name, path.display()));
        };
        let length = Literal::usize_unsuffixed(r.source.len());
        let p = &r.parsed;
        let off = r.bom_len;
        let id = &p.id.value;
        let message = &p.message;
        let file_name = &r.file_name;
        let down = p.revises.iter().map(|s| &s.value);
        let deps = p.depends_on.iter().map(|s| &s.value);
        let labels = p.branch_labels.iter().map(|s| &s.value);
        let create_date = &p.create_date;
        let transactional = p.transactional;
        let (ua, ub) = (Literal::usize_unsuffixed(p.upgrade.start + off), Literal::usize_unsuffixed(p.upgrade.end + off));
        let downgrade = match &p.downgrade {
            Some(d) => {
                let (da, db) = (Literal::usize_unsuffixed(d.start + off), Literal::usize_unsuffixed(d.end + off));
                quote!(::core::option::Option::Some((#da, #db)))
            }
            None => quote!(::core::option::Option::None),
        };
        let checksum = &r.checksum;
        let checksum_v2 = match &r.checksum_v2 {
            Some(c) => quote!(::core::option::Option::Some(#c)),
            None => quote!(::core::option::Option::None),
        };
        let (up_statements, down_statements) = r.embedded_statements();
        let (up_statements, down_statements) = (statement_tokens(&up_statements), statement_tokens(&down_statements));
        revisions.push(quote! {
            ::kiln::#private::Revision {
                id: #id,
                message: #message,
                file_name: #file_name,
                down_revisions: &[#(#down),*],
                depends_on: &[#(#deps),*],
                branch_labels: &[#(#labels),*],
                create_date: #create_date,
                transactional: #transactional,
                source: ::kiln::#private::checked_source(::core::include_str!(#path), #length),
                upgrade: (#ua, #ub),
                downgrade: #downgrade,
                upgrade_statements: &[#(#up_statements),*],
                downgrade_statements: &[#(#down_statements),*],
                checksum: #checksum,
                checksum_v2: #checksum_v2,
            }
        });
    }
    let history = set.history.iter().map(|&i| Literal::u32_unsuffixed(i as u32));
    let dir = &set.display_dir;
    let fingerprint = set.fingerprint();
    Ok(quote! {
        {
            use ::kiln::#private::{Statement as S, StatementKind as K};
            const MIGRATIONS: ::kiln::#private::Migrations = ::kiln::#private::Migrations::__new(
                &[#(#revisions),*],
                &[#(#history),*],
                #dir,
                #fingerprint,
            );
            MIGRATIONS
        }
    })
}

/// `S { start, end, kind }` for each statement, the short names bound by a
/// `use` in the generated block (a table of 10,000 revisions holds tens of
/// thousands of them).
fn statement_tokens(list: &[crate::sql::Statement<String>]) -> Vec<TokenStream> {
    use crate::sql::StatementKind as Kind;
    list.iter()
        .map(|s| {
            let (start, end) = (Literal::usize_unsuffixed(s.start), Literal::usize_unsuffixed(s.end));
            let kind = match &s.kind {
                Kind::Plain => quote!(K::Plain),
                Kind::TransactionControl => quote!(K::TransactionControl),
                Kind::CreateIndexConcurrently { table, index } => quote!(K::CreateIndexConcurrently { table: #table, index: #index }),
                Kind::DropIndexConcurrently { index } => quote!(K::DropIndexConcurrently { index: #index }),
                Kind::Repeatable => quote!(K::Repeatable),
                Kind::Outside => quote!(K::Outside),
            };
            quote!(S { start: #start, end: #end, kind: #kind })
        })
        .collect()
}

/// The file build.rs writes: a header naming the generator and the source
/// directory, then the expression, one field or element per line.
pub fn render_file(set: &RevisionSet, tokens: &TokenStream) -> String {
    let mut out = format!(
        "// @generated by kiln-core {} from `{}` ({} revisions). Do not edit:\n// build.rs regenerates it whenever a file in that directory changes.\n",
        env!("CARGO_PKG_VERSION"),
        set.display_dir,
        set.revisions.len()
    );
    let mut w = Writer { out: &mut out, indent: 0, prev: Prev::LineStart };
    w.stream(tokens.clone(), false);
    out.push('\n');
    out
}

/// What the last written token was, for spacing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    LineStart,
    Word,
    Open,
    Tight,
    Other,
}

struct Writer<'a> {
    out: &'a mut String,
    indent: usize,
    prev: Prev,
}

impl Writer<'_> {
    fn newline(&mut self) {
        self.out.push('\n');
        self.prev = Prev::LineStart;
    }

    fn emit(&mut self, s: &str, space: bool, after: Prev) {
        match self.prev {
            Prev::LineStart => self.out.push_str(&"    ".repeat(self.indent)),
            Prev::Word | Prev::Other if space => self.out.push(' '),
            _ => {}
        }
        self.out.push_str(s);
        self.prev = after;
    }

    fn multiline(g: &proc_macro2::Group) -> bool {
        match g.delimiter() {
            Delimiter::Brace => !g.stream().is_empty(),
            // A list of struct literals gets a line per element; short lists stay inline.
            Delimiter::Bracket => g.stream().into_iter().any(|t| matches!(&t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)),
            _ => false,
        }
    }

    /// Writes `tokens`; in a multi-line group, `,` and `;` end lines.
    fn stream(&mut self, tokens: TokenStream, multiline_here: bool) {
        let mut op = String::new();
        for tt in tokens {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::None => ("", ""),
                    };
                    // A call, an index or a macro's arguments hug what precedes them.
                    let space = g.delimiter() == Delimiter::Brace || self.prev != Prev::Word;
                    self.emit(open, space, Prev::Open);
                    if Self::multiline(&g) {
                        self.indent += 1;
                        self.newline();
                        self.stream(g.stream(), true);
                        if self.prev != Prev::LineStart {
                            self.newline();
                        }
                        self.indent -= 1;
                    } else {
                        self.stream(g.stream(), false);
                    }
                    self.emit(close, false, Prev::Word);
                }
                TokenTree::Punct(p) => {
                    op.push(p.as_char());
                    if p.spacing() == Spacing::Joint && op != "&" {
                        continue;
                    }
                    let text = std::mem::take(&mut op);
                    match text.as_str() {
                        "," | ";" => {
                            self.emit(&text, false, Prev::Other);
                            if multiline_here {
                                self.newline();
                            }
                        }
                        "::" => self.emit(&text, self.prev == Prev::Other, Prev::Tight),
                        "." => self.emit(&text, false, Prev::Tight),
                        ":" => self.emit(&text, false, Prev::Other),
                        "!" if self.prev == Prev::Word => self.emit(&text, false, Prev::Tight),
                        "&" => self.emit(&text, true, Prev::Tight),
                        _ => self.emit(&text, true, Prev::Other),
                    }
                }
                TokenTree::Ident(i) => self.emit(&i.to_string(), true, Prev::Word),
                TokenTree::Literal(l) => self.emit(&l.to_string(), true, Prev::Word),
            }
        }
    }
}
