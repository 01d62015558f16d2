//! `check` without a database: the build's validation and lint pass.

use crate::cli::args::Args;
use crate::offline::json_string;

/// `kiln check --dir <path>` without a database: the build's validation
/// and lint pass, for CI before merge.
pub(crate) fn lint_dir(args: &Args) -> Result<i32, String> {
    let dir = args.dir.as_deref().unwrap_or("migrations");
    let all = args.all;
    let loaded = kiln_core::validate::load_dir_with(std::path::Path::new(dir), dir.trim_end_matches('/'), |c| c.report_baselined = all);
    let (report, revisions) = match loaded {
        Ok(set) => {
            let n = set.revisions.len();
            (set.report, Some(n))
        }
        Err(report) => (report, None),
    };
    let errors = report.diagnostics.iter().filter(|d| d.severity == kiln_core::Severity::Error).count();
    let warnings = report.diagnostics.len() - errors;
    let baselined = report.diagnostics.iter().filter(|d| kiln_core::lint::is_baselined(d)).count();
    if args.json {
        println!("{}", diagnostics_json(&report));
    } else {
        for d in &report.diagnostics {
            eprintln!("{}\n", d.render(&report.sources));
        }
        match revisions {
            Some(n) if baselined > 0 => {
                println!("{dir}: {n} revision(s) checked, {warnings} warning(s), {baselined} of them in the baseline")
            }
            Some(n) => println!("{dir}: {n} revision(s) checked, {warnings} warning(s)"),
            None => println!("{dir}: {errors} error(s), {warnings} warning(s)"),
        }
    }
    Ok(if errors > 0 || (args.deny_warnings && warnings > baselined) { 1 } else { 0 })
}

/// Diagnostics as a JSON array, one object per finding, for CI annotations:
/// `severity`, `code`, `message`, `file`, `line`, `column` (1-based; null
/// without a location) and `help`.
pub(crate) fn diagnostics_json(report: &kiln_core::Report) -> String {
    let items: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| {
            let place = d.location.as_ref().and_then(|l| report.sources.get(l.file).map(|f| (f, f.line_col(l.span.start))));
            let (file, line, column) = match place {
                Some((f, (line, col))) => (json_string(&f.display), line.to_string(), col.to_string()),
                None => ("null".into(), "null".into(), "null".into()),
            };
            let severity = if d.severity == kiln_core::Severity::Error { "error" } else { "warning" };
            format!(
                "{{\"severity\":\"{severity}\",\"code\":{},\"message\":{},\"file\":{file},\"line\":{line},\"column\":{column},\"help\":{}}}",
                json_string(d.code),
                json_string(&d.message),
                d.help.as_deref().map_or("null".into(), json_string)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}
