//! `X-Registry-Auth` for pull and push, as the docker CLI builds it: the credentials stored
//! under `auths` in `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) for the image's
//! registry, as base64url JSON; `e30=` (`{}`) when there are none. Credential helpers
//! (`credsStore`, `credHelpers`) are not consulted.

use crate::reference::{Reference, DEFAULT_DOMAIN};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

/// The key Docker Hub credentials are stored under.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The header value for no credentials: base64url of `{}`.
pub const EMPTY_AUTH: &str = "e30=";

/// docker's `AuthConfig` as sent: empty fields are left out, in Go's field order.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

/// Go's `base64.URLEncoding` (padded), as `X-Registry-Auth` is encoded.
pub fn base64_url(data: &[u8]) -> String {
    URL_SAFE.encode(data)
}

/// Go's `base64.StdEncoding.DecodeString`, as the config file's `auth` field is stored
/// (padding optional here).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// docker's `ConvertToHostname`: `https://host:port/path` → `host:port`.
fn convert_to_hostname(key: &str) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    stripped.split('/').next().unwrap_or(stripped)
}

/// The config key a reference's credentials live under: Docker Hub's index URL, else the
/// registry host.
pub fn config_key(reference: &Reference) -> String {
    if reference.registry() == DEFAULT_DOMAIN {
        INDEX_SERVER.to_string()
    } else {
        reference.registry().to_string()
    }
}

/// The credentials of `key` in a parsed config file: the exact key first, then any key whose
/// hostname is `key` (legacy `https://host/v1/` entries). `auth` is `base64(user:password)`.
pub fn lookup(config: &Value, key: &str) -> Option<AuthConfig> {
    let auths = config.get("auths")?.as_object()?;
    let (addr, entry) = auths
        .get_key_value(key)
        .or_else(|| auths.iter().find(|(k, _)| convert_to_hostname(k) == key))?;
    let text = |f: &str| {
        entry
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut cfg = AuthConfig {
        username: text("username"),
        password: text("password"),
        email: text("email"),
        serveraddress: addr.clone(),
        identitytoken: text("identitytoken"),
        registrytoken: text("registrytoken"),
    };
    let auth = text("auth");
    if !auth.is_empty() {
        let decoded = base64_decode(&auth)?;
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (user, pass) = decoded.split_once(':')?;
        cfg.username = user.to_string();
        cfg.password = pass.trim_matches('\0').to_string();
    }
    Some(cfg)
}

/// The header value for `cfg` (docker's `registry.EncodeAuthConfig`).
pub fn encode(cfg: &AuthConfig) -> String {
    let json = serde_json::to_vec(cfg).expect("AuthConfig always serialises");
    base64_url(&json)
}

fn config_file() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

fn read_config(path: &std::path::Path) -> anyhow::Result<Value> {
    match std::fs::read(path) {
        Ok(b) if !b.iter().all(u8::is_ascii_whitespace) => serde_json::from_slice(&b)
            .map_err(|e| anyhow::anyhow!("loading config file {}: {e}", path.display())),
        Ok(_) => Ok(serde_json::json!({})),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(anyhow::anyhow!(
            "loading config file {}: {e}",
            path.display()
        )),
    }
}

/// Writes the config file whole (temp file, then rename), readable by its owner only.
fn write_config(path: &std::path::Path, config: &Value) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .expect("the config file is inside a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(config).expect("JSON values always serialise");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("saving config file {}: {e}", path.display());
    }
    Ok(())
}

/// Keeps `cfg` as the credentials of `server` in the config file (the rest of the file as it
/// was), as the docker CLI's file store does: `auth` is `base64(user:password)`, an identity
/// token goes beside it. Returns the file's path.
pub fn store(server: &str, cfg: &AuthConfig) -> anyhow::Result<PathBuf> {
    let path = config_file().ok_or_else(|| anyhow::anyhow!("no DOCKER_CONFIG or HOME"))?;
    let mut config = read_config(&path)?;
    let mut entry = serde_json::Map::new();
    let pair = format!("{}:{}", cfg.username, cfg.password);
    entry.insert("auth".into(), Value::String(STANDARD.encode(pair)));
    if !cfg.identitytoken.is_empty() {
        entry.insert(
            "identitytoken".into(),
            Value::String(cfg.identitytoken.clone()),
        );
    }
    let root = config
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("config file {} is not a JSON object", path.display()))?;
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Default::default()));
    if !auths.is_object() {
        *auths = Value::Object(Default::default());
    }
    auths
        .as_object_mut()
        .expect("made an object above")
        .insert(server.to_string(), Value::Object(entry));
    write_config(&path, &config)?;
    Ok(path)
}

/// Forgets the credentials of `server` (and of other spellings of its host, such as
/// `https://host/v1/`); returns whether there were any.
pub fn erase(server: &str) -> anyhow::Result<bool> {
    let Some(path) = config_file() else {
        return Ok(false);
    };
    let mut config = read_config(&path)?;
    let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let host = convert_to_hostname(server).to_string();
    let before = auths.len();
    auths.retain(|k, _| k != server && (server == INDEX_SERVER || convert_to_hostname(k) != host));
    if auths.len() == before {
        return Ok(false);
    }
    write_config(&path, &config)?;
    Ok(true)
}

/// `X-Registry-Auth` for pulling or pushing `reference`.
pub fn registry_auth(reference: &Reference) -> String {
    // An unreadable config file means no credentials, as for the docker CLI's pulls.
    let config = config_file().and_then(|p| read_config(&p).ok());
    match config.and_then(|c| lookup(&c, &config_key(reference))) {
        Some(cfg) => encode(&cfg),
        None => EMPTY_AUTH.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_url(b"{}"), EMPTY_AUTH);
        assert_eq!(encode(&AuthConfig::default()), EMPTY_AUTH);
        assert_eq!(base64_url(b"\xfb\xff"), "-_8=");
        assert_eq!(base64_url(b"abc"), "YWJj");
        assert_eq!(base64_url(b"a"), "YQ==");
        assert_eq!(
            base64_decode("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert!(base64_decode("*").is_none());
    }

    #[test]
    fn credentials_match_docker_cli() {
        let config = json!({"auths": {
            "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
            "https://index.docker.io/v1/": {"auth": "ZG9jazpodWI="},
            "https://legacy.example.com/v1/": {"auth": "YTpi"},
        }});
        let local = Reference::parse_normalized("127.0.0.1:5000/bb").expect("valid");
        let cfg = lookup(&config, &config_key(&local)).expect("found");
        // The exact header docker 28.2.2 sends for this config file.
        assert_eq!(
            encode(&cfg),
            "eyJ1c2VybmFtZSI6InVzZXIiLCJwYXNzd29yZCI6InBhc3MiLCJzZXJ2ZXJhZGRyZXNzIjoiMTI3LjAuMC4xOjUwMDAifQ=="
        );
        let hub = Reference::parse_normalized("busybox").expect("valid");
        let cfg = lookup(&config, &config_key(&hub)).expect("found");
        assert_eq!(
            encode(&cfg),
            "eyJ1c2VybmFtZSI6ImRvY2siLCJwYXNzd29yZCI6Imh1YiIsInNlcnZlcmFkZHJlc3MiOiJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8ifQ=="
        );
        let legacy = lookup(&config, "legacy.example.com").expect("found by hostname");
        assert_eq!(legacy.username, "a");
        assert_eq!(legacy.serveraddress, "https://legacy.example.com/v1/");
        assert!(lookup(&config, "other:5000").is_none());
        assert!(lookup(&json!({}), "x").is_none());
    }
}
