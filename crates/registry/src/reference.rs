use crate::{digest, Error, Result};
use std::fmt;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Docker Hub's API host.
pub(crate) const DEFAULT_API_HOST: &str = "registry-1.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// An image reference in Docker's normal form: `busybox` is registry `docker.io`, repository
/// `library/busybox`, tag `latest`. A tag is `latest` only when neither tag nor digest is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, or the host\[:port\] given in the name.
    pub registry: String,
    /// The path inside the registry: `library/busybox`, `user/app`, `a/b`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// `sha256:…` for `name@digest`; when both are given the digest is what gets pulled.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `[host[:port]/]path[:tag][@digest]` by Docker's rules (`ParseNormalizedNamed`):
    /// `busybox` → `docker.io`, `library/busybox`, `latest`; `user/app:1` → `docker.io`,
    /// `user/app`; `localhost:5000/app`, `127.0.0.1:5000/a/b@sha256:…` and `my.reg.io/x`
    /// keep their host.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |message: String| Error::InvalidReference {
            reference: s.to_string(),
            message,
        };
        let format = || invalid("invalid reference format".into());
        if is_64_hex(s) {
            return Err(invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => {
                digest::validate(d).map_err(|_| format())?;
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // The tag follows the last ':' after the last '/'; an earlier ':' belongs to a port.
        let after_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[after_slash..].rfind(':') {
            Some(i) => (&rest[..after_slash + i], Some(&rest[after_slash + i + 1..])),
            None => (rest, None),
        };
        if tag.is_some_and(|t| !valid_tag(t)) || name.is_empty() {
            return Err(format());
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(format!(
                "invalid reference format: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        let (registry, repository) = split_domain(name);
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "invalid reference format: repository name ({repository}) must be lowercase"
            )));
        }
        if !valid_domain(&registry) || !repository.split('/').all(valid_path_component) {
            return Err(format());
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the API is spoken to: `registry-1.docker.io` for Docker Hub, else the registry.
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_DOMAIN {
            DEFAULT_API_HOST
        } else {
            &self.registry
        }
    }

    /// The name as docker prints it: `busybox`, `user/app`, `localhost:5000/app`.
    pub fn familiar(&self) -> String {
        if self.registry == DEFAULT_DOMAIN {
            match self.repository.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// What goes in `/manifests/<reference>`: the digest when there is one, else the tag.
    pub(crate) fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `familiar:tag` or `familiar@digest`, as in Docker's "manifest for … not found".
    pub(crate) fn familiar_with_ref(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.familiar()),
            None => format!("{}:{}", self.familiar(), self.tag_or_digest()),
        }
    }
}

impl fmt::Display for Reference {
    /// `familiar[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's `splitDockerDomain`: the first component is a host if it has a '.' or ':', is
/// `localhost`, or has uppercase letters (which a repository path may not).
fn split_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        Some((d, r)) if d.contains(['.', ':']) || d == "localhost" || d.to_lowercase() != d => {
            (d, r.to_string())
        }
        _ => (DEFAULT_DOMAIN, name.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN
    } else {
        domain
    };
    let rest = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    (domain.to_string(), rest)
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut sep = String::new();
    for &ch in b {
        if alnum(ch) {
            if !(sep.is_empty()
                || sep == "."
                || sep == "_"
                || sep == "__"
                || sep.bytes().all(|s| s == b'-'))
            {
                return false;
            }
            sep.clear();
        } else if matches!(ch, b'.' | b'_' | b'-') {
            sep.push(ch as char);
        } else {
            return false;
        }
    }
    true
}

/// `host(.host)*(:port)?` with host components `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`,
/// or `[ipv6](:port)?`.
fn valid_domain(d: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let v6_ok = !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        return v6_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    port.is_none_or(port_ok) && host.split('.').all(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// input, registry, repository, tag, digest, familiar
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let d = format!("127.0.0.1:5000/a/b@{D}");
        let t = format!("busybox:1.36@{D}");
        #[rustfmt::skip]
        let table: &[Case] = &[
            // input, registry, repository, tag, digest, familiar
            ("busybox", "docker.io", "library/busybox", Some("latest"), None, "busybox"),
            ("busybox:1.36", "docker.io", "library/busybox", Some("1.36"), None, "busybox"),
            ("library/busybox", "docker.io", "library/busybox", Some("latest"), None, "busybox"),
            ("docker.io/busybox", "docker.io", "library/busybox", Some("latest"), None, "busybox"),
            ("index.docker.io/library/busybox", "docker.io", "library/busybox", Some("latest"), None, "busybox"),
            ("docker.io/library/busybox:glibc", "docker.io", "library/busybox", Some("glibc"), None, "busybox"),
            ("user/app:1", "docker.io", "user/app", Some("1"), None, "user/app"),
            ("user/sub/app", "docker.io", "user/sub/app", Some("latest"), None, "user/sub/app"),
            ("localhost:5000/app", "localhost:5000", "app", Some("latest"), None, "localhost:5000/app"),
            ("localhost/app:v2", "localhost", "app", Some("v2"), None, "localhost/app"),
            ("my.reg.io/x", "my.reg.io", "x", Some("latest"), None, "my.reg.io/x"),
            ("[::1]:5000/x:y", "[::1]:5000", "x", Some("y"), None, "[::1]:5000/x"),
            (&d, "127.0.0.1:5000", "a/b", None, Some(D), "127.0.0.1:5000/a/b"),
            (&t, "docker.io", "library/busybox", Some("1.36"), Some(D), "busybox"),
            ("a.b-c__d---e_f", "docker.io", "library/a.b-c__d---e_f", Some("latest"), None, "a.b-c__d---e_f"),
            ("localhost:5000", "docker.io", "library/localhost", Some("5000"), None, "localhost"),
        ];
        for &(input, registry, repository, tag, digest, familiar) in table {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry, registry, "{input}");
            assert_eq!(r.repository, repository, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
            assert_eq!(r.digest.as_deref(), digest, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
        }
        assert_eq!(
            Reference::parse("busybox").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(
            Reference::parse("localhost:5000/a").unwrap().api_host(),
            "localhost:5000"
        );
        assert_eq!(
            Reference::parse("busybox").unwrap().to_string(),
            "busybox:latest"
        );
        assert_eq!(Reference::parse(&d).unwrap().tag_or_digest(), D);
        assert_eq!(
            Reference::parse(&d).unwrap().familiar_with_ref(),
            format!("127.0.0.1:5000/a/b@{D}")
        );
    }

    #[test]
    fn rejects_invalid() {
        let long = format!("a/{}", "b".repeat(255));
        for bad in [
            "",
            ":",
            "busybox:",
            "busybox:-x",
            "busybox:.x",
            "Busybox",
            "foo/Bar",
            "a//b",
            "a/",
            "/a",
            "_a",
            "a_",
            "a..b",
            "a___b",
            "a b",
            "busybox@sha256:abc",
            "busybox@md5:0000",
            "host:port/x",
            "-host.io/x",
            "ho_st.io/x",
            "[::1/x",
            "busybox:a@b",
            &long,
            &"a".repeat(64)[..],
            &format!("busybox:{}", "t".repeat(129)),
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let e = Reference::parse("Foo/Bar").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (Bar) must be lowercase"
        );
        let e = Reference::parse("busybox:-x").unwrap_err();
        assert_eq!(e.to_string(), "invalid reference format");
        let hex = "0123456789abcdef".repeat(4);
        assert!(Reference::parse(&hex)
            .unwrap_err()
            .to_string()
            .contains("64-byte hexadecimal"));
    }
}
