//! `docker login`'s check: do these credentials open the registry's `/v2/`?

use crate::auth;
use crate::client::Client;
use crate::reference::DEFAULT_API_HOST;
use crate::{Credentials, Error, Result};
use reqwest::header::AUTHORIZATION;

impl Client {
    /// Logs in to the registry at `server_address` (`host[:port]`, possibly with a scheme and
    /// a path, as the docker CLI sends it; empty or Docker Hub's `https://index.docker.io/v1/`
    /// means Docker Hub): answers the registry's challenge with `creds` and checks that
    /// `/v2/` then answers 200. Returns the identity token (an OAuth2 refresh token) a token
    /// server handed out for later logins, if any.
    pub async fn login(&self, server_address: &str, creds: &Credentials) -> Result<Option<String>> {
        let host = self.host(&login_host(server_address)).await?;
        let ping = host
            .base
            .join("/v2/")
            .expect("joining an absolute path to a base URL");
        let mut identity = None;
        let authz = match &host.challenge {
            Some(ch) if ch.scheme == "basic" => auth::basic(creds),
            Some(ch) if ch.scheme == "bearer" => {
                // No scope: a login only proves the credentials.
                let (value, t) = self.bearer(&host, ch, "", creds, true).await?;
                identity = t.refresh;
                Some(value)
            }
            _ => None,
        };
        let mut req = self.http_for(host.insecure).get(ping.clone());
        if let Some(a) = authz {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(|source| Error::Http {
            url: ping.to_string(),
            source,
        })?;
        if !resp.status().is_success() {
            return Err(Error::LoginFailed {
                url: ping.to_string(),
                status: resp.status().to_string(),
            });
        }
        Ok(identity)
    }
}

/// The registry host of a login's server address, as Docker reads it: without scheme and
/// path; Docker Hub's names (and no name) stand for its API host.
fn login_host(server_address: &str) -> String {
    let s = server_address.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or_default();
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DEFAULT_API_HOST.into(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_name_hosts_as_docker_reads_them() {
        assert_eq!(login_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(login_host("https://my.reg/v1/"), "my.reg");
        assert_eq!(
            login_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(login_host(""), "registry-1.docker.io");
        assert_eq!(login_host("docker.io"), "registry-1.docker.io");
    }
}
