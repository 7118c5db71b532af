use crate::{Error, Result};
use std::fmt;

/// A named image reference, normalised as Docker does: `busybox` is `busybox:latest`,
/// `docker.io/library/busybox` and `library/busybox` are `busybox`; a registry host
/// (`localhost:5000/x`) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The repository in familiar form: `busybox`, `user/app`, `localhost:5000/app`.
    pub repo: String,
    /// The tag, `latest` when none was given (and no digest).
    pub tag: Option<String>,
    /// `sha256:…` for a digest reference (`name@sha256:…`).
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `name[:tag][@digest]`; a missing tag means `latest` unless a digest is given.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidReference(s.to_string());
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                d.parse::<crate::Digest>().map_err(|_| bad())?;
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad());
            }
        }
        let repo = normalize_repo(repo, s)?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Self { repo, tag, digest })
    }

    /// `repo:tag` (or `repo@digest`), the key used in `repositories.json` and `RepoTags`.
    pub fn key(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.repo),
            (None, Some(d)) => format!("{}@{d}", self.repo),
            (None, None) => self.repo.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

fn normalize_repo(repo: &str, whole: &str) -> Result<String> {
    if repo.is_empty() || repo.len() > 255 {
        return Err(Error::InvalidReference(whole.to_string()));
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    let has_host = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    let host = if has_host {
        Some(parts.remove(0))
    } else {
        None
    };
    if host == Some("docker.io") || host == Some("index.docker.io") {
        if parts.len() == 2 && parts[0] == "library" {
            parts.remove(0);
        }
    } else if host.is_none() && parts.len() == 2 && parts[0] == "library" {
        parts.remove(0);
    }
    for p in &parts {
        if p.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidReference(format!(
                "repository name ({repo}) must be lowercase"
            )));
        }
        if !valid_component(p) {
            return Err(Error::InvalidReference(whole.to_string()));
        }
    }
    let path = parts.join("/");
    Ok(match host {
        Some(h) if h != "docker.io" && h != "index.docker.io" => format!("{h}/{path}"),
        _ => path,
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b"._-".contains(&b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Reference::parse(s).unwrap().key()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(key("busybox"), "busybox:latest");
        assert_eq!(key("library/busybox:1.36"), "busybox:1.36");
        assert_eq!(key("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(key("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(key("127.0.0.1:5000/a/b:v1"), "127.0.0.1:5000/a/b:v1");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(key(&format!("busybox@{d}")), format!("busybox@{d}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "Busybox", "a:", "a:-x", "a//b", "-a", "a@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
