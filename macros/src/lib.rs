//! `embed_migrations!`: kiln's compile-time validation and embedding for
//! crates without a build script.
//!
//! ```ignore
//! static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("migrations");
//! ```
//!
//! The path is relative to the calling crate's `Cargo.toml` (absolute paths
//! work too, and a leading `$NAME/` is replaced by the environment variable
//! `NAME`). Validation and the generated table are exactly those of
//! `kiln_core::build::migrations`: both call kiln-core.
//!
//! Lint warnings appear as rustc `deprecated` warnings whose note is kiln's
//! diagnostic (the only way a macro can warn on stable Rust).
//!
//! **Limit**: rustc tracks every embedded file and an existing `kiln.toml`
//! (edits rebuild), but a macro cannot ask to be re-run when a *new* file
//! appears. Touch the calling file, or add a `build.rs` with
//! `println!("cargo:rerun-if-changed=migrations");` (or use the build-script
//! path, which has no such limit).

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Literal, Span, TokenTree};

/// Validates a migrations directory at compile time and expands to its
/// `kiln::Migrations` table, or to `compile_error!` with every diagnostic.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match expand(input.into()) {
        Ok(tokens) => tokens.into(),
        // One `compile_error!` per diagnostic, each the text build.rs prints,
        // as statements of a block so the expression stays well-formed.
        Err(messages) => {
            let body: proc_macro2::TokenStream = messages
                .iter()
                .flat_map(|m| {
                    let mut e = quote_error(Literal::string(m));
                    e.extend([TokenTree::Punct(proc_macro2::Punct::new(';', proc_macro2::Spacing::Alone))]);
                    e
                })
                .collect();
            // The block's value has type `!`, so no type error follows the real ones.
            let mut body = body;
            body.extend("::core::unreachable!()".parse::<proc_macro2::TokenStream>().expect("valid tokens"));
            let block = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body);
            proc_macro2::TokenStream::from(TokenTree::Group(block)).into()
        }
    }
}

fn quote_error(message: Literal) -> proc_macro2::TokenStream {
    let mut ts: proc_macro2::TokenStream = "::core::compile_error!".parse().expect("valid tokens");
    ts.extend([TokenTree::Group(proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, TokenTree::Literal(message).into()))]);
    ts.into_iter()
        .map(|mut t| {
            t.set_span(Span::call_site());
            t
        })
        .collect()
}

fn expand(input: proc_macro2::TokenStream) -> Result<proc_macro2::TokenStream, Vec<String>> {
    let given = string_argument(input).map_err(|e| vec![e])?;
    let path = resolve_path(&given).map_err(|e| vec![e])?;
    let set = kiln_core::load_dir(&path, given.trim_end_matches('/')).map_err(|report| {
        report
            .diagnostics
            .iter()
            .filter(|d| d.severity == kiln_core::Severity::Error)
            .map(|d| d.render(&report.sources).trim_end().to_string())
            .collect::<Vec<_>>()
    })?;
    let table = kiln_core::codegen::generate(&set).map_err(|e| vec![e])?;
    let warnings: Vec<String> = set
        .report
        .diagnostics
        .iter()
        .filter(|d| d.severity == kiln_core::Severity::Warning)
        .map(|d| d.render(&set.report.sources).trim_end().to_string())
        .collect();
    // rustc rebuilds when an `include_bytes!` file changes: so an edit to
    // kiln.toml (a lint level) or to the declared schema is seen like an
    // edit to a revision.
    let config = path.join(kiln_core::config::CONFIG_FILE);
    let mut tracked: Vec<std::path::PathBuf> = config.is_file().then(|| config.canonicalize().unwrap_or(config)).into_iter().collect();
    tracked.extend(set.config.declared.as_ref().and_then(|d| d.path.clone()));
    Ok(wrap(table, &warnings, &tracked))
}

/// The table, in a block that also tracks `kiln.toml` (and the declared schema) and carries the
/// warnings. Stable Rust gives proc-macros no warning API: each lint
/// warning becomes the note of a `#[deprecated]` constant that the block
/// uses, so rustc prints it as a warning (`#[allow(deprecated)]` on the
/// item silences it).
fn wrap(table: proc_macro2::TokenStream, warnings: &[String], tracked: &[std::path::PathBuf]) -> proc_macro2::TokenStream {
    if warnings.is_empty() && tracked.is_empty() {
        return table;
    }
    let mut body = proc_macro2::TokenStream::new();
    for path in tracked.iter().filter_map(|p| p.to_str()) {
        let item: proc_macro2::TokenStream =
            format!("const _: &[u8] = ::core::include_bytes!({});", Literal::string(path)).parse().expect("valid tokens");
        body.extend(item);
    }
    for w in warnings {
        let note = Literal::string(&format!("kiln found a problem in the migrations directory\n{w}"));
        let item: proc_macro2::TokenStream =
            // A block per warning: each `kiln_lint` item lives in its own scope.
            format!("{{ #[deprecated(note = {note})] #[allow(non_upper_case_globals)] const kiln_lint: () = (); let _ = kiln_lint; }}")
                .parse()
                .expect("valid tokens");
        body.extend(item.into_iter().map(|mut t| {
            t.set_span(Span::call_site());
            t
        }));
    }
    body.extend(table);
    proc_macro2::TokenStream::from(TokenTree::Group(proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body)))
}

fn string_argument(input: proc_macro2::TokenStream) -> Result<String, String> {
    let usage = "expected one string literal: `embed_migrations!(\"migrations\")`";
    let mut tokens: Vec<TokenTree> = input.into_iter().collect();
    while let [TokenTree::Group(g)] = tokens.as_slice() {
        if g.delimiter() != proc_macro2::Delimiter::None {
            break;
        }
        tokens = g.stream().into_iter().collect();
    }
    let [TokenTree::Literal(lit)] = tokens.as_slice() else { return Err(usage.into()) };
    unquote(&lit.to_string()).ok_or_else(|| usage.into())
}

/// The value of a Rust string literal (`"..."` with escapes, or `r#"..."#`).
fn unquote(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw[hashes..].strip_prefix('"')?;
        return body.strip_suffix(&format!("\"{}", "#".repeat(hashes))).map(str::to_string);
    }
    let body = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            '0' => out.push('\0'),
            _ => return None,
        }
    }
    Some(out)
}

fn resolve_path(given: &str) -> Result<std::path::PathBuf, String> {
    let expanded = match given.strip_prefix('$') {
        Some(rest) => {
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let value = std::env::var(name).map_err(|_| format!("environment variable `{name}` named in `{given}` is not set"))?;
            std::path::Path::new(&value).join(tail)
        }
        None => std::path::PathBuf::from(given),
    };
    if expanded.is_absolute() {
        return Ok(expanded);
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| "CARGO_MANIFEST_DIR is not set".to_string())?;
    Ok(std::path::Path::new(&manifest).join(expanded))
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn unquotes_plain_and_raw_literals() {
        assert_eq!(unquote(r#""migrations""#).as_deref(), Some("migrations"));
        assert_eq!(unquote(r#""a\\b""#).as_deref(), Some("a\\b"));
        assert_eq!(unquote(r###"r#"x"y"#"###).as_deref(), Some("x\"y"));
        assert_eq!(unquote("42"), None);
    }
}
