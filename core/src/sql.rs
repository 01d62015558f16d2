//! Just enough SQL lexing for a migration runner: splitting a script into
//! statements, for revisions that run outside a transaction (one statement
//! at a time) and to name the statement a server error comes from.
//!
//! The splitter understands what can hide a `;`: single-quoted strings
//! (including `E'...'` escapes), double-quoted identifiers, dollar-quoted
//! bodies (`$$ ... $$`, `$tag$ ... $tag$`), `--` line comments and nested
//! `/* */` block comments. It does not validate SQL: PostgreSQL does that.

use std::ops::Range;

/// Byte ranges of the statements in `sql`, without their terminating `;`
/// and surrounding whitespace; statements made only of comments are dropped.
pub fn split_statements(sql: &str) -> Vec<Range<usize>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Start of the current statement's first code byte, and end of its last.
    let mut code_start: Option<usize> = None;
    let mut code_end = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b';' => {
                if let Some(cs) = code_start.take() {
                    out.push(cs..code_end);
                }
                i += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => {}
        }
        code_start.get_or_insert(i);
        match c {
            b'\'' => {
                let escapes = i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e') && (i < 2 || !is_ident_byte(b[i - 2]));
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                i += 1;
            }
            b'$' if i == 0 || !is_ident_byte(b[i - 1]) => {
                // A dollar quote: `$tag$` where tag is empty or an identifier.
                let tag_end = b[i + 1..].iter().position(|&x| !is_ident_byte(x)).map(|p| i + 1 + p);
                match tag_end {
                    Some(e) if b[e] == b'$' && !b[i + 1..e].first().is_some_and(u8::is_ascii_digit) => {
                        let tag = &sql[i..=e];
                        match sql[e + 1..].find(tag) {
                            Some(close) => i = e + 1 + close + tag.len(),
                            None => i = b.len(),
                        }
                    }
                    _ => i += 1,
                }
            }
            _ => i += 1,
        }
        code_end = i.min(b.len());
    }
    if let Some(cs) = code_start {
        out.push(cs..code_end);
    }
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sql: &str) -> Vec<&str> {
        split_statements(sql).into_iter().map(|r| &sql[r]).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\n-- c; d\nDROP INDEX CONCURRENTLY b; /* x; /* y; */ z; */ SELECT 'a;b', \"q;\", E'\\';', $$ ; $$, $f$ ; $f$ ;\n-- only a comment;\n";
        assert_eq!(
            parts(sql),
            [
                "CREATE INDEX CONCURRENTLY a ON t (x)",
                "DROP INDEX CONCURRENTLY b",
                "SELECT 'a;b', \"q;\", E'\\';', $$ ; $$, $f$ ; $f$",
            ]
        );
    }

    #[test]
    fn function_bodies_and_trailing_statements_stay_whole() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;\nSELECT $1 + x$y";
        assert_eq!(parts(sql).len(), 2);
        assert!(parts(sql)[0].ends_with("LANGUAGE plpgsql"));
        assert_eq!(parts(sql)[1], "SELECT $1 + x$y");
    }
}
