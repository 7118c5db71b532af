//! Image references as the docker CLI reads them (`distribution/reference`): `busybox` is
//! `docker.io/library/busybox`, a first component with a `.` or `:` (or `localhost`) is a
//! registry, `:tag` and `@digest` follow the path. Pure functions with docker's messages.

use std::fmt;

/// The registry of names without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag `pull`, `push`, `tag` and `commit` add to a bare name.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalised named reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// A reference that does not parse, worded as `distribution/reference` words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RefError(pub String);

fn invalid() -> RefError {
    RefError("invalid reference format".into())
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `domain-component`: alphanumerics with inner hyphens.
fn domain_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// `host[:port]` where host is a domain name, an IPv4 address or `[IPv6]`.
fn domain_ok(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.is_none_or(|h| h.split('.').all(domain_component_ok))
}

/// `path-component`: `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
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
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if sep.is_empty() || !ok {
            return false;
        }
    }
    true
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: &u8| x.is_ascii_alphanumeric() || *x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(&b[0])
        && b.iter().all(|x| word(x) || *x == b'.' || *x == b'-')
}

/// `algorithm:hex`, with sha256/sha384/sha512 lengths checked as `go-digest` does.
fn parse_digest(d: &str) -> Result<(), RefError> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(invalid());
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|p| {
            p.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && p.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(RefError("unsupported digest algorithm".into())),
    };
    if hex.len() != want {
        return Err(RefError("invalid checksum digest length".into()));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(RefError("invalid checksum digest format".into()));
    }
    Ok(())
}

/// `splitDockerDomain`: the registry (docker.io by default) and the rest, with `library/`
/// added to official images.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        rest = format!("{OFFICIAL_REPO_PREFIX}{rest}");
    }
    (domain, rest)
}

impl Reference {
    /// `reference.ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Self, RefError> {
        if is_hex64(s) {
            return Err(RefError(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, rest) = split_docker_domain(s);
        let remote = rest.split(':').next().unwrap_or("");
        if remote.to_lowercase() != remote {
            return Err(RefError(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }
        if s.is_empty() {
            return Err(RefError(
                "repository name must have at least one component".into(),
            ));
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (rest.as_str(), None),
        };
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (rest, None),
        };
        if !domain_ok(&domain) || path.is_empty() || !path.split('/').all(path_component_ok) {
            return Err(invalid());
        }
        if tag.as_deref().is_some_and(|t| !tag_ok(t)) {
            return Err(invalid());
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(RefError(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        if let Some(d) = &digest {
            parse_digest(d)?;
        }
        Ok(Self {
            domain,
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// `reference.ParseAnyReference` accepts these too: a full image id, with or without
    /// `sha256:`. Used to validate a `tag` source.
    pub fn validate_any(s: &str) -> Result<(), RefError> {
        if is_hex64(s) {
            return Ok(());
        }
        if let Some(d) = s.strip_prefix("sha256:") {
            if is_hex64(d) {
                return Ok(());
            }
        }
        Self::parse_normalized(s).map(|_| ())
    }

    /// Neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// `reference.TagNameOnly`: adds `latest` to a bare name.
    pub fn with_default_tag(mut self) -> Self {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.into());
        }
        self
    }

    /// `Name()`: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `FamiliarName`: `busybox`, `user/app`, `127.0.0.1:5000/bb`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.path.clone(),
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `FamiliarString`: `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// The registry host the credentials are looked up for (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.domain
    }

    /// The `tag` query value of a pull: the digest when there is one, else the tag.
    pub fn api_tag(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_default()
    }
}

/// `String()`: the full reference, `docker.io/library/busybox:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name(), self.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Reference, RefError> {
        Reference::parse_normalized(s)
    }

    const D: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

    #[test]
    fn normalises_like_docker() {
        let r = p("busybox").expect("valid");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert!(r.is_name_only());
        let r = r.with_default_tag();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar_string(), "busybox:latest");
        let r = p("foo/bar:v2").expect("valid");
        assert_eq!(
            (r.name().as_str(), r.api_tag().as_str()),
            ("docker.io/foo/bar", "v2")
        );
        assert_eq!(r.familiar_name(), "foo/bar");
        let r = p("127.0.0.1:5000/bb").expect("valid");
        assert_eq!(r.name(), "127.0.0.1:5000/bb");
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/bb");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        let r = p("localhost/x:1").expect("valid");
        assert_eq!(
            (r.domain.as_str(), r.tag.as_deref()),
            ("localhost", Some("1"))
        );
        let r = p("index.docker.io/library/busybox").expect("valid");
        assert_eq!(r.familiar_name(), "busybox");
        let r = p(&format!("x@{D}")).expect("valid");
        assert_eq!(r.api_tag(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/x@{D}"));
        let r = p("[::1]:5000/a/b:c").expect("valid");
        assert_eq!(r.domain, "[::1]:5000");
        assert!(p("[::1]/a").is_ok());
        assert!(p("[::1]x/a").is_err());
    }

    #[test]
    fn rejects_like_docker() {
        assert_eq!(
            p("UPPER").unwrap_err().to_string(),
            "invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        for bad in [
            "a:b:c",
            "bad::",
            "a//b",
            "-a",
            "a:",
            ":x",
            "a@sha256:12",
            "a b",
        ] {
            assert!(p(bad).is_err(), "{bad} should not parse");
        }
        assert!(p("0123456789012345678901234567890123456789012345678901234567890123").is_err());
        assert!(Reference::validate_any(
            "0123456789012345678901234567890123456789012345678901234567890123"
        )
        .is_ok());
        assert!(Reference::validate_any("af8276b4ffb0").is_ok());
        assert!(p("x/a.b__c-d--e/f_g:Tag_1.0-x").is_ok());
        assert!(p("a.b__c/x").is_err());
    }
}
