//! The pages, rendered on the server: plain HTML and one stylesheet, no script. Every value that
//! comes from data is escaped ([`escape`]); the stylesheet is allowed by its hash in the
//! Content-Security-Policy ([`content_security_policy`]), so nothing else can style or run.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flyt::execution::{Execution, Level, LogLine, Status};
use flyt::Category;
use sha2::{Digest, Sha256};

/// The stylesheet, inline in every page.
const CSS: &str = "\
:root{--ko:#b3261e;--ko-bg:#fde7e6;--ok:#1e7b34;--ok-bg:#e4f4e8;--run:#8a5a00;--run-bg:#fff2cc;\
--line:#d9dde3;--muted:#5b6470}\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#1c2430;background:#f6f7f9}\
header{display:flex;align-items:center;gap:1rem;padding:.7rem 1.5rem;background:#1c2b3a;color:#fff}\
header .brand{font-weight:700;letter-spacing:.02em;color:#fff;text-decoration:none}\
header .org{margin-left:auto;opacity:.9}\
header form{margin:0}\
header button{background:transparent;color:#fff;border:1px solid #8193a6;border-radius:4px;padding:.25rem .7rem;cursor:pointer}\
main{padding:1.2rem 1.5rem;max-width:90rem}\
h1{font-size:1.35rem;margin:.2rem 0 .8rem}\
a{color:#0b57b5}\
.counters{display:flex;gap:.6rem;flex-wrap:wrap;margin:0 0 1rem;padding:0;list-style:none}\
.counter{padding:.35rem .8rem;border-radius:999px;background:#fff;border:1px solid var(--line)}\
.counter b{font-size:1.05rem}\
.counter.ko{background:var(--ko-bg);border-color:var(--ko);color:var(--ko)}\
.counter.ok{background:var(--ok-bg);border-color:var(--ok);color:var(--ok)}\
.counter.running{background:var(--run-bg);border-color:var(--run);color:var(--run)}\
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}\
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}\
th{background:#eef1f4;font-weight:600;white-space:nowrap}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
td.time{white-space:nowrap;font-variant-numeric:tabular-nums}\
tr.status-ko{background:var(--ko-bg)}tr.status-ko td:first-child{border-left:5px solid var(--ko)}\
tr.status-ok{background:var(--ok-bg)}tr.status-ok td:first-child{border-left:5px solid var(--ok)}\
tr.status-running{background:var(--run-bg)}tr.status-running td:first-child{border-left:5px solid var(--run)}\
.badge{display:inline-block;min-width:4.6rem;text-align:center;font-weight:700;font-size:.8rem;padding:.1rem .4rem;border-radius:4px;color:#fff}\
.status-ko .badge,.badge.ko{background:var(--ko)}.status-ok .badge,.badge.ok{background:var(--ok)}\
.status-running .badge,.badge.running{background:var(--run)}\
tr.level-error{background:var(--ko-bg)}tr.level-warning{background:var(--run-bg)}\
.counts{color:var(--muted);font-size:.9rem}\
.message{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88rem}\
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0 0 1rem;padding:.8rem 1rem;background:#fff;border:1px solid var(--line)}\
.meta dt{color:var(--muted)}.meta dd{margin:0}\
.actions{display:flex;gap:1rem;align-items:center;margin:0 0 1rem}\
a.button{display:inline-block;background:#0b57b5;color:#fff;text-decoration:none;padding:.45rem 1rem;border-radius:4px;font-weight:600}\
.empty{padding:1.5rem;background:#fff;border:1px solid var(--line);color:var(--muted)}\
.notice{max-width:40rem;padding:1rem 1.2rem;background:#fff;border:1px solid var(--line);border-left:5px solid var(--ko)}\
.muted{color:var(--muted)}";

static CSS_HASH: LazyLock<String> =
    LazyLock::new(|| STANDARD.encode(Sha256::digest(CSS.as_bytes())));

/// The Content-Security-Policy of every answer: nothing is loaded or run, the one stylesheet is
/// allowed by its hash, forms go only to this site, no page may be framed.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
        *CSS_HASH
    )
}

/// `text` safe inside HTML text and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title`, the header (with the institution and a sign-out button when signed in)
/// and `body` (already HTML).
pub fn layout(title: &str, org: Option<&str>, body: &str) -> String {
    let signed_in = match org {
        Some(org) => format!(
            "<span class=\"org\">Institution <strong>{}</strong></span>\
             <form method=\"post\" action=\"/logout\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
            escape(org)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Flyt</title><style>{CSS}</style></head>\
         <body><header><a class=\"brand\" href=\"/\">Flyt</a><span>log overview</span>{signed_in}</header>\
         <main>{body}</main></body></html>\n",
        title = escape(title)
    )
}

/// A page with one message and, optionally, a link (`href`, text).
pub fn message_page(title: &str, message: &str, link: Option<(&str, &str)>) -> String {
    let link = link
        .map(|(href, text)| format!("<p><a href=\"{}\">{}</a></p>", escape(href), escape(text)))
        .unwrap_or_default();
    layout(
        title,
        None,
        &format!(
            "<h1>{}</h1><div class=\"notice\"><p>{}</p>{link}</div>",
            escape(title),
            escape(message)
        ),
    )
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Ko => "ko",
        Status::Ok => "ok",
        Status::Running => "running",
    }
}

/// `2026-11-23 09:00:02 UTC`.
fn time(epoch_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(epoch_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `1 h 2 min`, `3 min 4 s`, `5 s`; `running` while unfinished.
fn duration(execution: &Execution) -> String {
    let Some(end) = execution.finished_at_ms else {
        return "running".to_owned();
    };
    let seconds = (end - execution.started_at_ms).max(0) / 1000;
    match seconds {
        s if s >= 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

fn counts(execution: &Execution) -> String {
    execution
        .counts
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(name, value)| format!("{} {value}", escape(&name.replace('_', " "))))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The overview: counters, then one row per execution, newest first, coloured by status.
pub fn overview(org: &str, executions: &[Execution], limit: usize) -> String {
    let by = |status| executions.iter().filter(|e| e.status() == status).count();
    let errors: u64 = executions.iter().map(|e| e.errors).sum();
    let counters = format!(
        "<ul class=\"counters\">\
         <li class=\"counter total\" id=\"count-total\"><b>{}</b> executions</li>\
         <li class=\"counter ko\" id=\"count-ko\"><b>{}</b> KO</li>\
         <li class=\"counter running\" id=\"count-running\"><b>{}</b> running</li>\
         <li class=\"counter ok\" id=\"count-ok\"><b>{}</b> OK</li>\
         <li class=\"counter errors\" id=\"count-errors\"><b>{errors}</b> error lines</li></ul>",
        executions.len(),
        by(Status::Ko),
        by(Status::Running),
        by(Status::Ok),
    );
    let body = if executions.is_empty() {
        "<p class=\"empty\">No executions of your institution are kept (executions are kept 90 days).</p>"
            .to_owned()
    } else {
        let rows: String = executions
            .iter()
            .map(|e| {
                let status = e.status();
                format!(
                    "<tr class=\"execution status-{class}\" data-id=\"{id}\">\
                     <td><span class=\"badge\">{status}</span></td>\
                     <td><a href=\"/executions/{id}\">{interface}</a><br><span class=\"muted\">{id}</span></td>\
                     <td class=\"time\">{started}</td><td class=\"time\">{duration}</td>\
                     <td class=\"num errors\">{errors}</td><td class=\"counts\">{counts}</td></tr>",
                    class = status_class(status),
                    id = escape(&e.id),
                    interface = escape(&e.interface),
                    started = time(e.started_at_ms),
                    duration = duration(e),
                    errors = e.errors,
                    counts = counts(e),
                )
            })
            .collect();
        let more = if executions.len() >= limit {
            format!("<p class=\"muted\">The newest {limit} are shown.</p>")
        } else {
            String::new()
        };
        format!(
            "<table class=\"executions\"><thead><tr><th>Status</th><th>Interface and execution</th>\
             <th>Started</th><th>Duration</th><th>Errors</th><th>Counts</th></tr></thead>\
             <tbody>{rows}</tbody></table>{more}"
        )
    };
    layout(
        &format!("Executions of {org}"),
        Some(org),
        &format!("<h1>Executions of {}</h1>{counters}{body}", escape(org)),
    )
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

/// One execution: its head, the export button, and every log line with its category and what to
/// do about it.
pub fn execution_page(org: &str, execution: &Execution, lines: &[LogLine]) -> String {
    let status = execution.status();
    let id = escape(&execution.id);
    let finished = execution
        .finished_at_ms
        .map(time)
        .unwrap_or_else(|| "not yet".to_owned());
    let meta = format!(
        "<dl class=\"meta\"><dt>Status</dt><dd><span class=\"badge {class}\" id=\"status\">{status}</span></dd>\
         <dt>Execution</dt><dd>{id}</dd><dt>Trigger</dt><dd>{trigger}</dd>\
         <dt>Started</dt><dd>{started}</dd><dt>Finished</dt><dd>{finished}</dd>\
         <dt>Error lines</dt><dd>{errors}</dd><dt>Counts</dt><dd>{counts}</dd></dl>",
        class = status_class(status),
        trigger = escape(&execution.trigger),
        started = time(execution.started_at_ms),
        errors = execution.errors,
        counts = counts(execution),
    );
    let actions = format!(
        "<div class=\"actions\"><a class=\"button\" id=\"export\" href=\"/executions/{id}/export.xlsx\" download>\
         Export to Excel (XLSX)</a><a href=\"/\">All executions</a></div>"
    );
    let table = if lines.is_empty() {
        "<p class=\"empty\">This execution has no log lines.</p>".to_owned()
    } else {
        let rows: String = lines
            .iter()
            .map(|line| {
                format!(
                    "<tr class=\"line level-{level}\"><td class=\"time\">{at}</td><td>{level}</td>\
                     <td class=\"category\">{category}</td><td class=\"action\">{action}</td>\
                     <td class=\"message\">{message}</td></tr>",
                    level = level_name(line.level),
                    at = time(line.at_ms),
                    category = line.category.map(Category::as_str).unwrap_or(""),
                    action = escape(line.category.map(Category::action).unwrap_or("")),
                    message = escape(&line.message),
                )
            })
            .collect();
        format!(
            "<table class=\"lines\"><thead><tr><th>Time</th><th>Level</th><th>Category</th>\
             <th>What to do</th><th>Message</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    layout(
        &execution.interface,
        Some(org),
        &format!(
            "<h1>{}</h1>{meta}{actions}{table}",
            escape(&execution.interface)
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn execution(interface: &str, errors: u64, finished: Option<i64>) -> Execution {
        Execution {
            id: format!("{interface}-20261123T090000-0a1b"),
            interface: interface.into(),
            trigger: "schedule".into(),
            started_at_ms: 1_795_510_800_000,
            finished_at_ms: finished,
            counts: BTreeMap::from([("queued".into(), 3), ("read".into(), 3)]),
            errors,
        }
    }

    #[test]
    fn every_markup_character_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("æøå vurdId 123"), "æøå vurdId 123");
    }

    #[test]
    fn values_from_data_cannot_add_markup() {
        let mut evil = execution("fs-poll-uio-klage", 1, Some(1_795_510_860_000));
        evil.id = "x\"><script>alert(1)</script>".into();
        evil.trigger = "<img src=x onerror=alert(1)>".into();
        evil.counts.insert("<i>".into(), 1);
        let line = LogLine {
            at_ms: 1_795_510_800_000,
            level: Level::Error,
            category: Some(Category::Mapping),
            message: "vurdId <script>alert(document.cookie)</script> \"quoted\"".into(),
        };
        for page in [
            overview("uio<", std::slice::from_ref(&evil), 10),
            execution_page("uio", &evil, &[line]),
        ] {
            assert!(!page.contains("<script>"), "{page}");
            assert!(!page.contains("<img"), "{page}");
            assert!(!page.contains("<i>"), "{page}");
            assert!(
                !page.contains("x\">"),
                "no attribute is broken out of: {page}"
            );
        }
        let page = overview("uio", &[evil], 10);
        assert!(
            page.contains("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }

    #[test]
    fn rows_are_coloured_by_status_and_counted() {
        let executions = [
            execution("fs-poll-uio-klage", 2, Some(1_795_510_860_000)),
            execution("fs-poll-uio-begrunnelse", 0, Some(1_795_510_805_000)),
            execution("wiseflow-poll-uio", 0, None),
        ];
        let page = overview("uio", &executions, 200);
        assert_eq!(page.matches("<tr class=\"execution status-ko\"").count(), 1);
        assert_eq!(page.matches("<tr class=\"execution status-ok\"").count(), 1);
        assert_eq!(
            page.matches("<tr class=\"execution status-running\"")
                .count(),
            1
        );
        assert!(page.contains("id=\"count-ko\"><b>1</b> KO"), "{page}");
        assert!(
            page.contains("id=\"count-errors\"><b>2</b> error lines"),
            "{page}"
        );
        assert!(page.contains("1 min 0 s") && page.contains("5 s") && page.contains("running"));
        assert!(page.contains("queued 3 · read 3"), "{page}");
        assert!(page.contains("<form method=\"post\" action=\"/logout\">"));
    }

    #[test]
    fn lines_show_their_category_and_what_to_do() {
        let execution = execution("fs-poll-uio-klage", 1, Some(1_795_510_860_000));
        let lines = [
            LogLine {
                at_ms: 1_795_510_801_000,
                level: Level::Info,
                category: None,
                message: "read 3 changes".into(),
            },
            LogLine {
                at_ms: 1_795_510_802_000,
                level: Level::Error,
                category: Some(Category::External),
                message: "FS answered 503".into(),
            },
        ];
        let page = execution_page("uio", &execution, &lines);
        assert!(page.contains("<tr class=\"line level-error\">"));
        assert!(page.contains("<td class=\"category\">External</td>"));
        assert!(page.contains(&escape(Category::External.action())));
        assert!(page.contains(
            "href=\"/executions/fs-poll-uio-klage-20261123T090000-0a1b/export.xlsx\" download"
        ));
        assert!(page.contains("2026-11-24 09:00:02 UTC"), "{page}");
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_stylesheet() {
        let policy = content_security_policy();
        let hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
        assert!(
            policy.contains(&format!("style-src 'sha256-{hash}'")),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'none';"));
        assert!(!policy.contains("unsafe"));
        let page = layout("t", None, "");
        assert!(page.contains(&format!("<style>{CSS}</style>")));
        assert!(
            !page.contains("style=\""),
            "no inline style attributes: {page}"
        );
    }
}
