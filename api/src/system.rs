//! System types: `GET /version` and `GET /info`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `Platform` in version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

/// One entry of `Components` in version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    pub details: BTreeMap<String, String>,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub platform: Platform,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

/// `GET /info` (the fields rdocker fills; the docker CLI tolerates missing ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: BTreeMap<String, Value>,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub n_fd: i64,
    pub n_goroutines: i64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub n_events_listener: i64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub docker_root_dir: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Value>,
    pub default_runtime: String,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<crate::image::ImageSummary>,
    pub containers: Vec<crate::container::ContainerSummary>,
    pub volumes: Vec<Value>,
    pub build_cache: Vec<Value>,
}

/// `POST /auth` request: credentials to check (`docker login`). Go's JSON decoding matches keys
/// case-insensitively; the docker CLI sends them in lower case.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(alias = "Username")]
    pub username: String,
    #[serde(alias = "Password")]
    pub password: String,
    /// Deprecated, ignored.
    #[serde(alias = "Email")]
    pub email: String,
    #[serde(alias = "ServerAddress")]
    pub serveraddress: String,
    #[serde(alias = "IdentityToken")]
    pub identitytoken: String,
    #[serde(alias = "RegistryToken")]
    pub registrytoken: String,
}

impl std::fmt::Debug for AuthConfig {
    /// Never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .finish_non_exhaustive()
    }
}

/// `POST /auth` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    /// `Login Succeeded`.
    pub status: String,
    /// A token to log in with next time instead of the password; empty when none was given.
    pub identity_token: String,
}
