//! Naming conventions: plural snake_case tables and the expected names of
//! indexes, foreign keys and unique constraints.

/// PostgreSQL truncates identifiers to 63 bytes (`NAMEDATALEN - 1`).
pub const MAX_IDENT: usize = 63;

/// True for lowercase snake_case: `[a-z0-9_]`, starting with a letter or one
/// `_`, no `__`, no trailing `_`.
pub fn is_snake_case(name: &str) -> bool {
    let body = name.strip_prefix('_').unwrap_or(name);
    body.starts_with(|c: char| c.is_ascii_lowercase())
        && body.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !body.contains("__")
        && !body.ends_with('_')
}

/// `UserProfile`, `user-profile` and `User Profile` become `user_profile`.
pub fn to_snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    out.trim_end_matches('_').to_string()
}

/// Singular → plural for words English does not pluralise with `-s`.
const IRREGULAR: &[(&str, &str)] = &[
    ("person", "people"),
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("datum", "data"),
    ("criterion", "criteria"),
    ("medium", "media"),
    ("index", "indexes"),
    ("matrix", "matrices"),
    ("vertex", "vertices"),
    ("leaf", "leaves"),
    ("life", "lives"),
    ("knife", "knives"),
    ("wife", "wives"),
    ("half", "halves"),
    ("shelf", "shelves"),
    ("quiz", "quizzes"),
];

/// Words that are already plural, or the same in both numbers.
const PLURAL_AS_IS: &[&str] = &[
    "data",
    "metadata",
    "media",
    "criteria",
    "people",
    "children",
    "men",
    "women",
    "mice",
    "feet",
    "teeth",
    "geese",
    "news",
    "series",
    "species",
    "sheep",
    "fish",
    "deer",
    "aircraft",
    "equipment",
    "information",
    "feedback",
    "staff",
    "software",
    "audio",
    "music",
    "traffic",
    "analytics",
    "statistics",
    "matrices",
    "vertices",
    "menus",
    "emus",
    "gurus",
    "tutus",
    "census",
];

/// Singular nouns that end in `os`: the rest (`twos`, `logos`, `demos`) are plurals.
const SINGULAR_IN_OS: &[&str] = &["chaos", "ethos", "kudos", "pathos", "cosmos", "bios", "thermos", "asbestos", "rhinoceros"];

/// Singular nouns that end in `s` (`status`, `address`, `analysis`, `chaos`).
fn singular_in_s(word: &str) -> bool {
    word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") || SINGULAR_IN_OS.iter().any(|w| word.ends_with(w))
}

/// Words that qualify a table rather than name it (`jobs_legacy`,
/// `users_v2`): the noun before them is the one that must be plural.
const QUALIFIERS: &[&str] = &["legacy", "old", "new", "archive", "archived", "backup", "tmp", "temp", "staging", "copy", "deprecated"];

/// True for a word that names the table: not a number, a version (`v2`) or a qualifier.
fn is_noun(word: &str) -> bool {
    let number = word.bytes().all(|b| b.is_ascii_digit());
    let version = word.starts_with('v') && word.len() > 1 && word[1..].bytes().all(|b| b.is_ascii_digit());
    !(word.is_empty() || number || version || QUALIFIERS.contains(&word))
}

/// True when the name's last noun reads as a plural (`api_keys`, `jobs_legacy`).
pub fn is_plural(name: &str) -> bool {
    let Some(word) = name.rsplit('_').find(|w| is_noun(w)) else { return true };
    if PLURAL_AS_IS.contains(&word) {
        return true;
    }
    if IRREGULAR.iter().any(|(s, _)| *s == word) {
        return false;
    }
    word.ends_with('s') && !singular_in_s(word) || word.ends_with("ies")
}

/// The plural of one English word.
pub fn pluralize(word: &str) -> String {
    if let Some((_, p)) = IRREGULAR.iter().find(|(s, _)| *s == word) {
        return p.to_string();
    }
    if PLURAL_AS_IS.contains(&word) {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("is") {
        return format!("{stem}es");
    }
    if let Some(stem) = word.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) && !stem.is_empty() {
            return format!("{stem}ies");
        }
    }
    if ["s", "x", "z", "ch", "sh"].iter().any(|e| word.ends_with(e)) {
        return format!("{word}es");
    }
    format!("{word}s")
}

/// The name a table should have: snake_case, last word plural.
pub fn table_suggestion(name: &str) -> String {
    let snake = to_snake_case(name);
    let mut words: Vec<String> = snake.split('_').map(str::to_string).collect();
    if let Some(i) = words.iter().rposition(|w| is_noun(w)) {
        if !is_plural(&words[i]) {
            words[i] = pluralize(&words[i]);
        }
    }
    let out = words.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{out}")
    } else {
        out
    }
}

/// What a name template of `[naming_convention]` gives for a table, its
/// columns (`None` for an expression) and what it refers to, shortened
/// past 63 characters as SQLAlchemy does. Unknown tokens were refused when
/// kiln.toml was read; here they stay as written.
pub fn render(template: &str, table: &str, columns: &[String], referred: Option<(&str, &[String])>, constraint: Option<&str>) -> String {
    let label = |c: &String| format!("{table}_{c}");
    let first = |xs: &[String]| xs.first().cloned().unwrap_or_default();
    let (ref_table, ref_cols) = referred.unwrap_or(("", &[]));
    let labels: Vec<String> = columns.iter().map(label).collect();
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("%(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find(")s") else { break };
        let value = match &after[..end] {
            "table_name" => table.to_string(),
            "column_0_name" | "column_0_key" => first(columns),
            "column_0_N_name" | "column_0_N_key" => columns.join("_"),
            "column_0N_name" | "column_0N_key" => columns.concat(),
            "column_0_label" => first(&labels),
            "column_0_N_label" => labels.join("_"),
            "column_0N_label" => labels.concat(),
            "referred_table_name" => ref_table.to_string(),
            "referred_column_0_name" => first(ref_cols),
            "referred_column_0_N_name" => ref_cols.join("_"),
            "referred_column_0N_name" => ref_cols.concat(),
            "constraint_name" => constraint.unwrap_or_default().to_string(),
            other => format!("%({other})s"),
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    shorten(&out)
}

/// A template with readable placeholders, for help texts:
/// `ix_%(table_name)s_%(column_0_N_name)s` is `ix_<table>_<column>[_<column>...]`.
pub fn describe_template(template: &str) -> String {
    [
        ("%(table_name)s", "<table>"),
        ("%(column_0_N_name)s", "<column>[_<column>...]"),
        ("%(column_0N_name)s", "<column>[<column>...]"),
        ("%(column_0_name)s", "<column>"),
        ("%(column_0_N_label)s", "<table>_<column>[_<table>_<column>...]"),
        ("%(column_0_label)s", "<table>_<column>"),
        ("%(referred_table_name)s", "<referenced_table>"),
        ("%(referred_column_0_name)s", "<referenced_column>"),
        ("%(constraint_name)s", "<name>"),
    ]
    .iter()
    .fold(template.to_string(), |t, (token, shown)| t.replace(token, shown))
}

/// SQLAlchemy's `_truncate_and_render_maxlen_name` for PostgreSQL's 63.
fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_IDENT {
        return name.to_string();
    }
    use md5::Digest as _;
    let digest = md5::Md5::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let head: String = name.chars().take(MAX_IDENT - 8).collect();
    format!("{head}_{}", &hex[hex.len() - 4..])
}

/// True when `actual` is the expected name.
pub fn matches(actual: &str, expected: &str) -> bool {
    actual == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in [
            "users",
            "api_keys",
            "categories",
            "people",
            "metadata",
            "_private_jobs",
            "addresses",
            "statuses",
            "event_log_entries",
            "v2_users",
            "jobs_legacy",
            "users_v2",
            "alpha_twos",
            "logos",
            "demos",
        ] {
            assert!(is_snake_case(ok) && is_plural(ok), "{ok}");
        }
        for (bad, suggestion) in [
            ("user", "users"),
            ("UserProfile", "user_profiles"),
            ("category", "categories"),
            ("status", "statuses"),
            ("address", "addresses"),
            ("analysis", "analyses"),
            ("person", "people"),
            ("box", "boxes"),
            ("api_key", "api_keys"),
            ("Users", "users"),
            ("order__items", "order_items"),
            ("day", "days"),
            ("job_legacy", "jobs_legacy"),
            ("chaos", "chaoses"),
        ] {
            assert!(!(is_snake_case(bad) && is_plural(bad)), "{bad}");
            assert_eq!(table_suggestion(bad), suggestion, "{bad}");
        }
    }

    #[test]
    fn templates_render_names_and_shorten_them() {
        let c = crate::config::NamingConvention::default();
        let cols = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(render(&c.fk, "teams", &cols(&["workspace_id"]), Some(("workspaces", &[])), None), "fk_teams_workspace_id_workspaces");
        assert_eq!(render(&c.ix, "teams", &cols(&["a", "b"]), None, None), "ix_teams_a_b");
        // SQLAlchemy's documented convention.
        assert_eq!(render("ix_%(column_0_label)s", "users", &cols(&["email"]), None, None), "ix_users_email");
        assert_eq!(render("uq_%(table_name)s_%(column_0_name)s", "t", &cols(&["a", "b"]), None, None), "uq_t_a");
        assert_eq!(render("ck_%(table_name)s_%(constraint_name)s", "t", &[], None, Some("positive")), "ck_t_positive");
        assert_eq!(render("x_%(column_0N_name)s", "t", &cols(&["a", "b"]), None, None), "x_ab");
        assert_eq!(describe_template(&c.ix), "ix_<table>_<column>[_<column>...]");
        // Over 63 characters: SQLAlchemy's name (values from SQLAlchemy 2.0's
        // `_truncate_and_render_maxlen_name` with `max_identifier_length` 63).
        let long = render(&c.ix, &"t".repeat(60), &cols(&["column"]), None, None);
        assert_eq!(long, format!("ix_{}_a42e", "t".repeat(52)));
        assert_eq!(long.len(), 60);
        assert!(matches(&long, &long) && !matches(&format!("ix_{}_column", "t".repeat(60))[..63], &long));
    }
}
