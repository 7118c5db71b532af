//! docker's human output: durations and sizes from go-units, truncated ids, Go's `%q` and `%g`,
//! and tables laid out like Go's `text/tabwriter` with docker's settings.

use api::container::ContainerState;
use chrono::{DateTime, Utc};

use api::units::human_duration;

/// "2 minutes ago" for a unix timestamp, as in the CREATED columns.
pub fn ago(unix_secs: i64, now: DateTime<Utc>) -> String {
    let secs = now.timestamp_millis() as f64 / 1000.0 - unix_secs as f64;
    format!("{} ago", human_duration(secs))
}

/// Parses an RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`) and "" give `None`.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

/// docker's `State.String()`: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created".
pub fn state_status(s: &ContainerState, now: DateTime<Utc>) -> String {
    let since = |t: &str| match parse_time(t) {
        Some(t) => human_duration((now - t).num_milliseconds() as f64 / 1000.0),
        None => human_duration(0.0),
    };
    if s.running {
        if s.paused {
            return format!("Up {} (Paused)", since(&s.started_at));
        }
        if s.restarting {
            return format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at));
        }
        return format!("Up {}", since(&s.started_at));
    }
    if s.status == "removing" {
        return "Removal In Progress".into();
    }
    if s.dead {
        return "Dead".into();
    }
    if parse_time(&s.started_at).is_none() {
        return "Created".into();
    }
    if parse_time(&s.finished_at).is_none() {
        return String::new();
    }
    format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
}

pub use api::units::{bytes_size, human_size, human_size_4};

/// docker's `stringid.TruncateID`: drops `sha256:` and keeps 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if max == 0 {
        return String::new();
    }
    if n <= max {
        return s.to_string();
    }
    if max == 1 {
        return s.chars().take(1).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the text docker shows (printable Unicode is kept as is).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `COMMAND` cell of `ps`: truncated to 20 characters unless `--no-trunc`, then quoted.
pub fn ps_command(command: &str, trunc: bool) -> String {
    if trunc {
        go_quote(&ellipsis(command, 20))
    } else {
        go_quote(command)
    }
}

/// Go's `json.Indent(dst, src, "", indent)`: re-indents JSON text, keeping the key order of
/// the daemon's answer (as `docker inspect` prints it); `{}` and `[]` stay on one line.
pub fn indent_json(src: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let (mut depth, mut in_str, mut escaped, mut opened) = (0usize, false, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in src.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if opened && c != '}' && c != ']' {
            newline(&mut out, depth);
        }
        let was_opened = std::mem::replace(&mut opened, false);
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                opened = true;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if !was_opened {
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// Rows laid out like `tabwriter.NewWriter(out, min_width, 1, padding, ' ', 0)` with every cell
/// but the last tab-terminated: each column is as wide as its widest cell plus `padding`, and
/// at least `min_width`; the last column is not padded.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    min_width: usize,
    padding: usize,
}

impl Table {
    /// docker's list tables: minimum width 10, padding 3.
    pub fn docker() -> Self {
        Self {
            rows: Vec::new(),
            min_width: 10,
            padding: 3,
        }
    }

    /// Appends a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// A docker table of JSON rows: a header row, then `row[key]` for each `(header, key)`.
    pub fn of_columns(columns: &[(&str, &str)], rows: &[serde_json::Value]) -> String {
        let mut table = Self::docker();
        table.row(columns.iter().map(|(h, _)| *h));
        for r in rows {
            table.row(
                columns
                    .iter()
                    .map(|(_, k)| r[*k].as_str().unwrap_or("").to_string()),
            );
        }
        table.render()
    }

    /// The laid-out text, one `\n`-terminated line per row.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![self.min_width; cols];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                widths[i] = widths[i].max(cell.chars().count() + self.padding);
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_commands_truncate() {
        assert_eq!(
            short_id("sha256:af8276b4ffb00db8c3f81fea3c55"),
            "af8276b4ffb0"
        );
        assert_eq!(short_id("bcffa0d91e47f4d5853775b1"), "bcffa0d91e47");
        assert_eq!(ps_command("sleep 100", true), "\"sleep 100\"");
        assert_eq!(
            ps_command("sh -c 'echo out; echo err >&2; sleep 100'", true),
            "\"sh -c 'echo out; ec…\""
        );
        assert_eq!(ps_command("echo \"a\"", false), "\"echo \\\"a\\\"\"");
        assert_eq!(ellipsis("12345678901234567890", 20), "12345678901234567890");
    }

    #[test]
    fn json_indents_like_go() {
        let src = r#"[{"Id":"a","Args":["1"],"E":{},"L":[],"S":"x,\"y\":{"}]"#;
        let want = "[\n    {\n        \"Id\": \"a\",\n        \"Args\": [\n            \"1\"\n        ],\n        \
                    \"E\": {},\n        \"L\": [],\n        \"S\": \"x,\\\"y\\\":{\"\n    }\n]";
        assert_eq!(indent_json(src, "    "), want);
        assert_eq!(indent_json("[]", "    "), "[]");
        assert_eq!(indent_json("{ \"a\" : 1 }", "  "), "{\n  \"a\": 1\n}");
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let mut t = Table::docker();
        t.row(["CONTAINER ID", "IMAGE", "COMMAND", "PORTS", "NAMES"]);
        t.row(["bcffa0d91e47", "busybox", "\"sleep 100\"", "", "xx"]);
        assert_eq!(
            t.render(),
            "CONTAINER ID   IMAGE     COMMAND       PORTS     NAMES\n\
             bcffa0d91e47   busybox   \"sleep 100\"             xx\n"
        );
    }

    #[test]
    fn states_read_like_docker() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:02:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let mut s = ContainerState {
            started_at: "0001-01-01T00:00:00Z".into(),
            finished_at: "0001-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        assert_eq!(state_status(&s, now), "Created");
        s.running = true;
        s.started_at = "2026-01-01T00:01:55Z".into();
        assert_eq!(state_status(&s, now), "Up 5 seconds");
        s.running = false;
        s.finished_at = "2026-01-01T00:00:00Z".into();
        assert_eq!(state_status(&s, now), "Exited (0) 2 minutes ago");
    }
}
