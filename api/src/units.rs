//! Human-readable units as Docker prints them (go-units), shared by the daemon (`Status` of
//! `GET /containers/json`, progress bars) and the client (the CREATED and SIZE columns).

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks".
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    } else if seconds == 1 {
        return "1 second".into();
    } else if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    } else if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs / 3600.0).round() as i64;
    match hours {
        1 => "About an hour".into(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", (secs / 3600.0) as i64 / 24 / 365),
    }
}

/// Go's `%.{prec}g`: `prec` significant digits, trailing zeros dropped, exponent form when the
/// exponent is < -4 or >= prec (so 999.9 with 3 digits is "1e+03", as docker prints it).
pub fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", prec.saturating_sub(1), x);
    let (mant, exp) = sci
        .split_once('e')
        .expect("{:e} output always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mant), exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn size_with_units(size: f64, base: f64, units: &[&str], prec: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), units[i])
}

/// go-units `HumanSizeWithPrecision(size, 3)`, docker's SIZE columns: "4.26MB", "0B".
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    size_with_units(bytes as f64, 1000.0, &UNITS, 3)
}

/// go-units `HumanSize` (4 significant digits): "Total reclaimed space", `system df`, the
/// progress counts: "4.262MB".
pub fn human_size_4(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    size_with_units(bytes as f64, 1000.0, &UNITS, 4)
}

/// go-units `BytesSize`, binary with 4 digits: "23.54GiB" (`info`'s Total Memory).
pub fn bytes_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    size_with_units(bytes as f64, 1024.0, &UNITS, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_550), "4.26MB");
        assert_eq!(human_size(1_978_000), "1.98MB");
        assert_eq!(human_size(4_000_000), "4MB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(999_950), "1e+03kB");
        assert_eq!(human_size_4(4_261_550), "4.262MB");
        assert_eq!(human_size_4(0), "0B");
        assert_eq!(bytes_size(25_275_510_784), "23.54GiB");
        assert_eq!(bytes_size(1024), "1KiB");
    }

    #[test]
    fn go_g_formats() {
        assert_eq!(go_g(123.456, 3), "123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_g(1.5, 3), "1.5");
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(5.9), "5 seconds");
        assert_eq!(human_duration(45.0), "45 seconds");
        assert_eq!(human_duration(60.0), "About a minute");
        assert_eq!(human_duration(119.0), "About a minute");
        assert_eq!(human_duration(120.0), "2 minutes");
        assert_eq!(human_duration(600.0), "10 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5400.0), "2 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(5.0 * 86400.0), "5 days");
        assert_eq!(human_duration(20.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }
}
