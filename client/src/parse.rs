//! Parsers for docker's flag values: memory units, CPUs, env files, labels, filters and image
//! references (log timestamps: `api::timestamp`). Pure functions, so the quirks are unit-tested here.

use api::Filters;
use std::collections::BTreeMap;

/// go-units `RAMInBytes` (its `parseSize`): a number, an optional space, then an optional
/// unit `k|m|g|t|p` (binary) with an optional `i`/`b`/`ib`, or just `b`: `64m`, `2GiB`, `1.5k`.
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let sep = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
    let Some(sep) = sep else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    let bad_suffix = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    let sfx_l = sfx.to_ascii_lowercase();
    let mut chars = sfx_l.chars();
    let exp = match chars.next() {
        None => return Ok(size as i64),
        Some('b') if sfx_l.len() == 1 => return Ok(size as i64),
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        Some(_) => return Err(bad_suffix()),
    };
    match chars.as_str() {
        "" | "i" | "b" | "ib" => Ok((size * 1024f64.powi(exp)) as i64),
        _ => Err(bad_suffix()),
    }
}

/// `--memory-swap`: like [`parse_ram`], and `-1` for unlimited.
pub fn parse_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_ram(s)
}

/// `--cpus 1.5` → NanoCpus `1500000000`.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid value {s} for --cpus"));
    }
    Ok((v * 1e9).round() as i64)
}

/// One `-e` value: `KEY=V` as is; `KEY` takes the client's value and is dropped when unset.
fn env_entry(entry: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    lookup(entry).map(|v| format!("{entry}={v}"))
}

/// Docker's `parseKeyValueFile` for `--env-file`: blank lines and `#` comments are skipped,
/// `KEY=V` is kept verbatim, a bare `KEY` takes the client's value (dropped when unset).
pub fn parse_env_file(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if key.contains(char::is_whitespace) {
            return Err(format!(
                "variable '{key}' contains whitespaces (line {})",
                n + 1
            ));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => out.extend(env_entry(key, lookup)),
        }
    }
    Ok(out)
}

/// `-e` values after the env files' (later ones win in the daemon).
pub fn env_from_flags(flags: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    flags.iter().filter_map(|e| env_entry(e, lookup)).collect()
}

/// `-l KEY=V` / `-l KEY` (empty value).
pub fn parse_labels(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// `--filter k=v` (repeatable) → [`Filters`]; the key is lower-cased as docker does.
pub fn parse_filters(flags: &[String]) -> Result<Filters, String> {
    let mut f = Filters::default();
    for flag in flags {
        let (k, v) = flag
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {flag}"))?;
        f.add(&k.trim().to_lowercase(), v.trim());
    }
    Ok(f)
}

/// Splits `name[:tag]` (a `:` after the last `/` is the tag); digests stay in the name.
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_units_are_binary() {
        assert_eq!(parse_ram("512"), Ok(512));
        assert_eq!(parse_ram("10b"), Ok(10));
        assert_eq!(parse_ram("64m"), Ok(64 << 20));
        assert_eq!(parse_ram("64M"), Ok(64 << 20));
        assert_eq!(parse_ram("1g"), Ok(1 << 30));
        assert_eq!(parse_ram("2GiB"), Ok(2 << 30));
        assert_eq!(parse_ram("1.5k"), Ok(1536));
        assert_eq!(parse_ram("32 mb"), Ok(32 << 20));
        assert!(parse_ram("abc").is_err());
        assert!(parse_ram("-1").is_err());
        assert!(parse_ram("").is_err());
        assert!(parse_ram("12x").is_err());
        assert_eq!(parse_swap("-1"), Ok(-1));
    }

    #[test]
    fn cpus_become_nano() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.01"), Ok(10_000_000));
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn env_files_parse_like_docker() {
        let lookup = |k: &str| (k == "HOME_X").then(|| "/root".to_string());
        let file = "\u{feff}# comment\n\nA=1\n  B=x y \nHOME_X\nUNSET_Y\nC=\n";
        assert_eq!(
            parse_env_file(file, &lookup),
            Ok(vec![
                "A=1".into(),
                "B=x y ".into(),
                "HOME_X=/root".into(),
                "C=".into()
            ])
        );
        assert!(parse_env_file("B = spaced\n", &lookup).is_err());
        assert!(parse_env_file("BAD KEY=1\n", &lookup).is_err());
        assert!(parse_env_file("=1\n", &lookup).is_err());
        let flags = vec!["X=1".to_string(), "HOME_X".into(), "UNSET_Y".into()];
        assert_eq!(
            env_from_flags(&flags, &lookup),
            vec!["X=1".to_string(), "HOME_X=/root".into()]
        );
    }

    #[test]
    fn labels_and_filters() {
        let l = parse_labels(&["a=b".into(), "c".into(), "d=e=f".into()]);
        assert_eq!(l.get("a").map(String::as_str), Some("b"));
        assert_eq!(l.get("c").map(String::as_str), Some(""));
        assert_eq!(l.get("d").map(String::as_str), Some("e=f"));
        let f = parse_filters(&[
            "status=exited".into(),
            "Name=web".into(),
            "label=a=b".into(),
        ])
        .expect("valid filters");
        assert_eq!(
            f.to_query(),
            r#"{"label":{"a=b":true},"name":{"web":true},"status":{"exited":true}}"#
        );
        assert!(parse_filters(&["nope".into()]).is_err());
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("busybox"), ("busybox", None));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_reference("127.0.0.1:5000/bb"),
            ("127.0.0.1:5000/bb", None)
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/bb:v1"),
            ("127.0.0.1:5000/bb", Some("v1"))
        );
    }
}
