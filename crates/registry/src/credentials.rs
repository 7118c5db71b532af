use crate::{Error, Result};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use std::fmt;

/// What a client sends to log in to a registry. `Debug` shows only which fields are set.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (basic auth, and the token request's `account`).
    pub username: String,
    /// The password.
    pub password: String,
    /// An OAuth2 refresh token from `docker login` (sent with `grant_type=refresh_token`).
    pub identity_token: String,
    /// A bearer token to send to the registry as is.
    pub registry_token: String,
}

impl Credentials {
    /// Decodes the `X-Registry-Auth` header: base64url (padded or not; standard base64 is
    /// accepted too) of JSON `{"username","password","serveraddress","identitytoken",
    /// "registrytoken"}`, keys matched case-insensitively as Go's `encoding/json` does.
    /// An empty header or `e30=` (`{}`) means anonymous. `auth` (base64 `user:pass`) fills
    /// username and password when they are not given.
    pub fn from_header(v: &str) -> Result<Self> {
        let v: String = v
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        if v.is_empty() {
            return Ok(Self::default());
        }
        let json = URL_SAFE_NO_PAD
            .decode(v.as_bytes())
            .map_err(|e| Error::InvalidAuthHeader(e.into()))?;
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&json).map_err(|e| Error::InvalidAuthHeader(e.into()))?;
        let field = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut creds = Self {
            username: field("username"),
            password: field("password"),
            identity_token: field("identitytoken"),
            registry_token: field("registrytoken"),
        };
        let auth = field("auth");
        if creds.username.is_empty() && !auth.is_empty() {
            let raw = STANDARD_NO_PAD
                .decode(auth.trim_end_matches('='))
                .map_err(|e| Error::InvalidAuthHeader(e.into()))?;
            let pair = String::from_utf8(raw).map_err(|e| Error::InvalidAuthHeader(e.into()))?;
            if let Some((u, p)) = pair.split_once(':') {
                creds.username = u.to_string();
                creds.password = p.to_string();
            }
        }
        Ok(creds)
    }

    /// True when nothing is set: requests go anonymously.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credentials")
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .field("identity_token", &set(&self.identity_token))
            .field("registry_token", &set(&self.registry_token))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    #[test]
    fn empty_means_anonymous() {
        for h in ["", "e30=", "e30", " e30= "] {
            let c = Credentials::from_header(h).unwrap();
            assert!(c.is_empty(), "{h:?}");
        }
    }

    #[test]
    fn decodes_base64url_with_and_without_padding() {
        // '?' and '>' make the standard and URL alphabets differ ("Pz8-" vs "Pz8+").
        let json = r#"{"username":"u?>","password":"p??>>","serveraddress":"localhost:5000"}"#;
        assert_ne!(URL_SAFE.encode(json), STANDARD.encode(json));
        for enc in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
        ] {
            let c = Credentials::from_header(&enc).unwrap();
            assert_eq!(
                (c.username.as_str(), c.password.as_str()),
                ("u?>", "p??>>"),
                "{enc}"
            );
        }
        let tok = URL_SAFE.encode(r#"{"IdentityToken":"rt","registrytoken":"bt"}"#);
        let c = Credentials::from_header(&tok).unwrap();
        assert_eq!(
            (c.identity_token.as_str(), c.registry_token.as_str()),
            ("rt", "bt")
        );
        let auth = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("me:secret")));
        let c = Credentials::from_header(&auth).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "secret"));
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Credentials::from_header("!!!").is_err());
        assert!(Credentials::from_header(&URL_SAFE.encode("not json")).is_err());
    }
}
