//! Dockerfile-style `changes` (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `USER`, `WORKDIR`,
//! `VOLUME`) applied to an image's container config, as import and commit accept them.

use crate::error::{Result, ServiceError};
use api::container::ContainerConfig;
use serde_json::Value;

/// Applies `changes` on top of `base`; returns the config as JSON (null when empty and no base).
pub fn apply(changes: &[String], base: Option<ContainerConfig>) -> Result<Value> {
    if changes.is_empty() && base.is_none() {
        return Ok(Value::Null);
    }
    let mut c = base.unwrap_or_default();
    for line in changes
        .iter()
        .flat_map(|l| l.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => c.cmd = Some(command(rest)),
            "ENTRYPOINT" => c.entrypoint = Some(command(rest)),
            "ENV" => c
                .env
                .get_or_insert_with(Vec::new)
                .extend(pairs(rest, "ENV")?),
            "LABEL" => {
                for kv in pairs(rest, "LABEL")? {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    c.labels.insert(k.to_string(), v.to_string());
                }
            }
            "USER" => c.user = rest.to_string(),
            "WORKDIR" => c.working_dir = rest.to_string(),
            "EXPOSE" => {
                let ports = c.exposed_ports.get_or_insert_with(Default::default);
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, Value::Object(Default::default()));
                }
            }
            "VOLUME" => {
                let vols = c.volumes.get_or_insert_with(Default::default);
                for v in command_list(rest)
                    .unwrap_or_else(|| rest.split_whitespace().map(String::from).collect())
                {
                    vols.insert(v, Value::Object(Default::default()));
                }
            }
            other => {
                return Err(ServiceError::invalid(format!(
                    "{other} is not a valid change command"
                )));
            }
        }
    }
    Ok(serde_json::to_value(c).expect("container configs always serialise"))
}

fn command_list(rest: &str) -> Option<Vec<String>> {
    rest.starts_with('[')
        .then(|| serde_json::from_str(rest).ok())
        .flatten()
}

/// JSON form `["a","b"]`, or shell form run by `/bin/sh -c`.
fn command(rest: &str) -> Vec<String> {
    command_list(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// `k=v k2="v 2"` or the legacy `k v` form.
fn pairs(rest: &str, what: &str) -> Result<Vec<String>> {
    if !rest.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| {
            ServiceError::invalid(format!("{what} requires at least one argument"))
        })?;
        return Ok(vec![format!("{k}={}", v.trim())]);
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for ch in rest.chars() {
        match (ch, quote) {
            ('"' | '\'', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_dockerfile_lines() {
        let v = apply(
            &[
                "CMD [\"sh\"]".into(),
                "ENV A=1 B=\"x y\"".into(),
                "WORKDIR /w".into(),
                "EXPOSE 80".into(),
                "LABEL k=v".into(),
            ],
            None,
        )
        .unwrap();
        let c: ContainerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.env, Some(vec!["A=1".to_string(), "B=x y".to_string()]));
        assert_eq!(c.working_dir, "/w");
        assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(c.labels["k"], "v");
        assert!(apply(&["BOGUS x".into()], None).is_err());
        assert_eq!(apply(&[], None).unwrap(), Value::Null);
    }

    #[test]
    fn shell_form_runs_through_sh() {
        assert_eq!(command("echo hi"), vec!["/bin/sh", "-c", "echo hi"]);
    }
}
