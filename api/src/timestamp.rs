//! Docker's time values: `timetypes.GetTimestamp`, which both the CLI (log `--since`/`--until`)
//! and the daemon (`until` filters) apply to what users type.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Go's `time.ParseDuration` for what users type: `42m`, `1h30m`, `1.5h`, `10s`, `300ms`.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// docker's `timetypes.GetTimestamp` (`--since`/`--until` of logs, `until` filters of prunes): a relative duration, an RFC 3339
/// time, a local `2006-01-02[T15:04:05]`, or a unix timestamp passed through.
pub fn get_timestamp(value: &str, now: DateTime<Utc>) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let t = now - chrono::Duration::milliseconds((d * 1000.0) as i64);
            return Ok(t.timestamp().to_string());
        }
    }
    let stamp = |t: DateTime<Utc>| format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos());
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(stamp(t.with_timezone(&Utc)));
    }
    let local = |n: NaiveDateTime| {
        Local
            .from_local_datetime(&n)
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Some(t) = NaiveDateTime::parse_from_str(value, fmt)
            .ok()
            .and_then(local)
        {
            return Ok(stamp(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0).and_then(local) {
            return Ok(stamp(t));
        }
    }
    if value.chars().all(|c| c.is_ascii_digit() || c == '.') && !value.is_empty() {
        return Ok(value.to_string());
    }
    Err(format!(
        "failed to parse value as time or duration: \"{value}\""
    ))
}

/// [`get_timestamp`] as seconds since the epoch.
pub fn timestamp_secs(value: &str, now: DateTime<Utc>) -> Result<f64, String> {
    let stamp = get_timestamp(value, now)?;
    stamp
        .parse()
        .map_err(|_| format!("failed to parse value as time or duration: \"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            get_timestamp("42m", now),
            Ok((now.timestamp() - 42 * 60).to_string())
        );
        assert_eq!(
            get_timestamp("1h30m", now),
            Ok((now.timestamp() - 5400).to_string())
        );
        assert_eq!(
            get_timestamp("2026-01-01T00:00:00Z", now),
            Ok(format!("{}.000000000", now.timestamp() - 3600))
        );
        assert_eq!(get_timestamp("1484594583", now), Ok("1484594583".into()));
        assert!(get_timestamp("yesterday", now).is_err());
        assert_eq!(parse_go_duration("300ms"), Some(0.3));
    }

    #[test]
    fn seconds() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            timestamp_secs("1h", now),
            Ok((now.timestamp() - 3600) as f64)
        );
        assert_eq!(timestamp_secs("12.5", now), Ok(12.5));
        assert!(timestamp_secs("soon", now).is_err());
    }
}
