//! Keeping passwords out of logs and errors.

/// A database URL or key-value connection string with its password replaced
/// by `***`: `postgres://u:secret@h/db` → `postgres://u:***@h/db`,
/// `host=h password=secret` → `host=h password=***`.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let mut out = url[..scheme_end + 3].to_string();
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let tail = &rest[authority_end..];
        out.push_str(&redact_query_password(tail));
        return out;
    }
    // key=value form
    let mut out = Vec::new();
    let mut parts = url.split_whitespace();
    while let Some(p) = parts.next() {
        match p.split_once('=') {
            Some((k, v)) if k.trim() == "password" => {
                out.push(format!("{k}=***"));
                // A quoted password with spaces continues until the closing quote.
                if v.starts_with('\'') && !(v.len() > 1 && v.ends_with('\'')) {
                    for q in parts.by_ref() {
                        if q.ends_with('\'') {
                            break;
                        }
                    }
                }
            }
            _ => out.push(p.to_string()),
        }
    }
    out.join(" ")
}

fn redact_query_password(tail: &str) -> String {
    let Some(q) = tail.find('?') else { return tail.to_string() };
    let (path, query) = tail.split_at(q + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}{}", params.join("&"))
}

/// Replaces every occurrence of `secret` in `text` (for messages that may
/// quote a connection string).
#[cfg(any(test, feature = "cli"))]
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_string(),
    }
}

/// The password in a URL or key-value connection string, if any.
#[cfg(any(test, feature = "cli"))]
pub(crate) fn password_of(url: &str) -> Option<String> {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        if let Some(at) = authority.rfind('@') {
            if let Some((_, p)) = authority[..at].split_once(':') {
                return Some(p.to_string());
            }
        }
        return rest.split(['?', '&']).find_map(|kv| kv.strip_prefix("password=")).map(str::to_string);
    }
    url.split_whitespace().find_map(|kv| kv.strip_prefix("password=")).map(|p| p.trim_matches('\'').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive() {
        assert_eq!(redact_url("postgres://kart:s3cr%40t@db:5432/app?sslmode=require"), "postgres://kart:***@db:5432/app?sslmode=require");
        assert_eq!(redact_url("postgresql://db/app?user=u&password=hunter2"), "postgresql://db/app?user=u&password=***");
        assert_eq!(redact_url("host=db user=u password=hunter2 dbname=app"), "host=db user=u password=*** dbname=app");
        assert_eq!(redact_url("postgres://u@db/app"), "postgres://u@db/app");
        assert_eq!(password_of("postgres://u:pw@h/d").as_deref(), Some("pw"));
        assert_eq!(scrub("failed for pw at h", Some("pw")), "failed for *** at h");
    }
}
