//! `WWW-Authenticate` challenges and the token request of the distribution token spec
//! (<https://distribution.github.io/distribution/spec/auth/token/>).

use crate::{Credentials, Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// Token lifetime when the server does not say (the spec's default).
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60);

/// One challenge: `Bearer realm="…",service="…",scope="…"` → scheme `bearer` and its params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased: `bearer`, `basic`, …
    pub scheme: String,
    /// Lowercased names; values unquoted.
    pub params: BTreeMap<String, String>,
}

/// Parses every challenge in `WWW-Authenticate` values (RFC 7235: several challenges may share
/// one header, separated by commas, and params may be tokens or quoted strings).
pub(crate) fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for v in values {
        let mut p = Parser {
            s: v.as_bytes(),
            i: 0,
        };
        loop {
            p.skip(b" \t,");
            let scheme = p.token();
            if scheme.is_empty() {
                break;
            }
            let mut ch = Challenge {
                scheme: scheme.to_ascii_lowercase(),
                params: BTreeMap::new(),
            };
            loop {
                p.skip(b" \t");
                let start = p.i;
                let name = p.token();
                p.skip(b" \t");
                if name.is_empty() || !p.eat(b'=') {
                    p.i = start; // the next challenge's scheme
                    break;
                }
                p.skip(b" \t");
                let value = if p.eat(b'"') { p.quoted() } else { p.token() };
                ch.params.insert(name.to_ascii_lowercase(), value);
                p.skip(b" \t");
                if !p.eat(b',') {
                    break;
                }
            }
            out.push(ch);
        }
    }
    out
}

/// The challenge we answer: Bearer if offered, else Basic.
pub(crate) fn pick(challenges: Vec<Challenge>) -> Option<Challenge> {
    let mut cs = challenges;
    cs.sort_by_key(|c| match c.scheme.as_str() {
        "bearer" => 0,
        "basic" => 1,
        _ => 2,
    });
    cs.into_iter()
        .find(|c| c.scheme == "bearer" || c.scheme == "basic")
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip(&mut self, set: &[u8]) {
        while self.i < self.s.len() && set.contains(&self.s[self.i]) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }
    fn token(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() && !b" \t,=\"".contains(&self.s[self.i]) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    fn quoted(&mut self) -> String {
        let mut v = Vec::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' if self.i < self.s.len() => {
                    v.push(self.s[self.i]);
                    self.i += 1;
                }
                c => v.push(c),
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// `repository:<repo>:pull` or `…:pull,push`. Several scopes are joined by spaces (as in an
/// OAuth2 form); the token request sends each as a `scope` parameter of its own.
pub(crate) fn scope(repository: &str, push: bool) -> String {
    let actions = if push { "pull,push" } else { "pull" };
    format!("repository:{repository}:{actions}")
}

/// A short id of who is asking, so one caller's token never serves another's request.
pub(crate) fn who(c: &Credentials) -> String {
    let mut h = Sha256::new();
    for part in [
        &c.username,
        &c.password,
        &c.identity_token,
        &c.registry_token,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `Basic base64(user:pass)`, marked sensitive so no `Debug` of the request shows it.
pub(crate) fn basic(c: &Credentials) -> Option<HeaderValue> {
    if c.username.is_empty() && c.password.is_empty() {
        return None;
    }
    let enc = STANDARD.encode(format!("{}:{}", c.username, c.password));
    sensitive(&format!("Basic {enc}"))
}

pub(crate) fn sensitive(v: &str) -> Option<HeaderValue> {
    let mut h = HeaderValue::from_str(v).ok()?;
    h.set_sensitive(true);
    Some(h)
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    expires_in: Option<u64>,
    /// Given to `offline_token=true` requests (a login): the identity token.
    #[serde(default)]
    refresh_token: String,
}

/// A token from a realm.
pub(crate) struct Token {
    pub token: String,
    pub ttl: Duration,
    /// A refresh token, when asked for one (`offline`) and given.
    pub refresh: Option<String>,
}

/// Asks the realm for a token for `scope`. An identity token is exchanged with the OAuth2
/// `refresh_token` grant (POST), falling back to GET when the server has no OAuth endpoint
/// (404), as Docker does; GET sends basic auth when a username or password is given. An empty
/// `scope` asks for none (a login); `offline` asks for a refresh token too, as `docker login`
/// does.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &Url,
    service: Option<&str>,
    scope: &str,
    creds: &Credentials,
    registry: &str,
    offline: bool,
) -> Result<Token> {
    let fail = |source| Error::Http {
        url: realm.to_string(),
        source,
    };
    let mut resp = None;
    if !creds.identity_token.is_empty() {
        let body = refresh_form(&creds.identity_token, service, scope);
        let r = http
            .post(realm.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(fail)?;
        if r.status() != StatusCode::NOT_FOUND {
            resp = Some(r);
        }
    }
    let resp = match resp {
        Some(r) => r,
        None => {
            let mut url = realm.clone();
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in scope.split(' ').filter(|s| !s.is_empty()) {
                    q.append_pair("scope", s);
                }
                if !creds.username.is_empty() {
                    q.append_pair("account", &creds.username);
                }
                if offline {
                    q.append_pair("offline_token", "true");
                    q.append_pair("client_id", "rdocker");
                }
            }
            let mut req = http.get(url);
            if let Some(b) = basic(creds) {
                req = req.header(reqwest::header::AUTHORIZATION, b);
            }
            req.send().await.map_err(fail)?
        }
    };
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let message = if creds.is_empty() {
            "authentication required"
        } else {
            "incorrect username or password"
        };
        return Err(Error::Unauthorized {
            registry: registry.to_string(),
            message: message.into(),
        });
    }
    if !status.is_success() {
        return Err(Error::Registry {
            status: status.as_u16(),
            code: None,
            message: format!("token server {realm} answered {status}"),
        });
    }
    let body = resp.bytes().await.map_err(fail)?;
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|_| Error::NoToken {
        realm: realm.to_string(),
    })?;
    let token = if t.token.is_empty() {
        t.access_token
    } else {
        t.token
    };
    if token.is_empty() {
        return Err(Error::NoToken {
            realm: realm.to_string(),
        });
    }
    Ok(Token {
        token,
        ttl: t.expires_in.map_or(DEFAULT_TOKEN_TTL, Duration::from_secs),
        refresh: (!t.refresh_token.is_empty()).then_some(t.refresh_token),
    })
}

/// The OAuth2 `refresh_token` grant's form body. (Built apart: the serializer is not `Send`.)
fn refresh_form(refresh_token: &str, service: Option<&str>, scope: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("client_id", "rdocker")
        .append_pair("scope", scope);
    if let Some(s) = service {
        form.append_pair("service", s);
    }
    form.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        let cs = parse_challenges([h]);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].scheme, "bearer");
        assert_eq!(cs[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(cs[0].params["service"], "registry.docker.io");
        assert_eq!(cs[0].params["scope"], "repository:library/busybox:pull");

        let cs = parse_challenges([r#"Basic realm="Registry Realm""#]);
        assert_eq!(cs[0].scheme, "basic");
        assert_eq!(cs[0].params["realm"], "Registry Realm");
    }

    #[test]
    fn parses_odd_but_valid_headers() {
        // Several challenges in one header, token values, spaces, escapes, mixed case.
        let h = r#"Basic realm="a, \"b\"" , BEARER Realm = http://t/x , Scope="repository:a/b:pull,push",error=insufficient_scope"#;
        let cs = parse_challenges([h, "Negotiate"]);
        assert_eq!(cs.len(), 3, "{cs:?}");
        assert_eq!(cs[0].params["realm"], r#"a, "b""#);
        assert_eq!(cs[1].scheme, "bearer");
        assert_eq!(cs[1].params["realm"], "http://t/x");
        assert_eq!(cs[1].params["scope"], "repository:a/b:pull,push");
        assert_eq!(cs[1].params["error"], "insufficient_scope");
        assert_eq!(cs[2].scheme, "negotiate");
        assert_eq!(pick(cs).unwrap().scheme, "bearer");
        assert!(pick(parse_challenges(["Negotiate", ""])).is_none());
    }

    #[test]
    fn scopes_and_identities() {
        assert_eq!(
            scope("library/busybox", false),
            "repository:library/busybox:pull"
        );
        assert_eq!(scope("a/b", true), "repository:a/b:pull,push");
        let a = Credentials {
            username: "a".into(),
            ..Default::default()
        };
        let b = Credentials {
            username: "b".into(),
            ..Default::default()
        };
        assert_ne!(who(&a), who(&b));
        assert_ne!(who(&a), who(&Credentials::default()));
        assert!(basic(&Credentials::default()).is_none());
        let h = basic(&Credentials {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic dTpw");
    }
}
