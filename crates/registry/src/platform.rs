use crate::Descriptor;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An OS/architecture pair as in OCI image indexes (`os`, `architecture`, `variant`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// GOARCH spelling: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`.
    pub architecture: String,
    /// `v7` for arm, `v8` for arm64, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in Go's spelling (as `docker version` shows it).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "loongarch64" => ("loong64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            other => (other, None),
        };
        Self {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Aliases folded as containerd's `platforms.Normalize` does: `x86_64` → `amd64`,
    /// `aarch64` → `arm64` (whose `v8` is the default, so dropped), `arm` defaults to `v7`.
    fn normalized(&self) -> (String, String, Option<String>) {
        let os = self.os.to_ascii_lowercase();
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.clone().filter(|v| !v.is_empty());
        let (arch, variant) = match arch.as_str() {
            "x86_64" | "x86-64" => ("amd64".to_string(), variant),
            "i386" => ("386".to_string(), None),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                variant.filter(|v| v != "v8" && v != "8"),
            ),
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "arm" => (
                "arm".to_string(),
                Some(variant.unwrap_or_else(|| "v7".to_string())),
            ),
            _ => (arch, variant),
        };
        (os, arch, variant)
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, as in Docker's "no matching manifest for linux/amd64".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks the manifest for `want` from a list/index's entries: the same os and architecture,
/// then the best variant — the exact one, else an entry without a variant, else (arm, amd64)
/// the highest lower variant the host can still run (an arm v7 host runs v6 and v5). A host
/// without a variant takes only entries without one (or `v1`). Ties go to the first entry.
/// Entries without a platform (attestations are `unknown/unknown`) never match.
pub fn select_platform<'a>(manifests: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let (os, arch, variant) = want.normalized();
    let level = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
    let score = |d: &Descriptor| -> Option<u32> {
        let (dos, darch, dvariant) = d.platform.as_ref()?.normalized();
        if dos != os || darch != arch {
            return None;
        }
        match (&variant, &dvariant) {
            (_, None) => Some(1),
            // amd64/v2+ needs a newer CPU than a host that names no variant.
            (None, Some(v)) => (v == "v1").then_some(1),
            (Some(w), Some(v)) if w == v => Some(0),
            (Some(w), Some(v)) => {
                let (w, v) = (level(w)?, level(v)?);
                (v < w).then(|| 2 + (w - v))
            }
        }
    };
    manifests
        .iter()
        .filter_map(|d| Some((score(d)?, d)))
        .min_by_key(|(s, _)| *s)
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: crate::media_type::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 1,
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
            annotations: Default::default(),
        }
    }

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn picks_the_matching_entry() {
        let list = vec![
            entry(1, "unknown", "unknown", None),
            entry(2, "linux", "amd64", None),
            entry(3, "linux", "arm", Some("v5")),
            entry(4, "linux", "arm", Some("v6")),
            entry(5, "linux", "arm", Some("v7")),
            entry(6, "linux", "arm64", Some("v8")),
            entry(7, "windows", "amd64", None),
            entry(8, "linux", "s390x", None),
        ];
        let pick =
            |want: Platform| select_platform(&list, &want).map(|d| d.digest[7..9].to_string());
        assert_eq!(pick(p("linux", "amd64", None)).as_deref(), Some("02"));
        assert_eq!(pick(p("linux", "x86_64", None)).as_deref(), Some("02"));
        assert_eq!(pick(p("windows", "amd64", None)).as_deref(), Some("07"));
        assert_eq!(pick(p("linux", "arm64", None)).as_deref(), Some("06"));
        assert_eq!(
            pick(p("linux", "aarch64", Some("v8"))).as_deref(),
            Some("06")
        );
        assert_eq!(
            pick(p("linux", "arm", None)).as_deref(),
            Some("05"),
            "arm means v7"
        );
        assert_eq!(pick(p("linux", "arm", Some("v6"))).as_deref(), Some("04"));
        assert_eq!(pick(p("linux", "riscv64", None)), None);
        assert_eq!(pick(p("unknown", "amd64", None)), None);
        // An arm v7 host falls back to the highest lower variant; v5 cannot run v6.
        let older = vec![
            entry(3, "linux", "arm", Some("v5")),
            entry(4, "linux", "arm", Some("v6")),
        ];
        let got = select_platform(&older, &p("linux", "arm", Some("v7"))).unwrap();
        assert_eq!(&got.digest[7..9], "04");
        assert!(select_platform(&older, &p("linux", "arm", Some("v5"))).is_some());
        assert!(select_platform(&older[1..], &p("linux", "arm", Some("v5"))).is_none());
        // An arm64 entry without a variant serves an arm64/v8 host.
        let plain = vec![entry(9, "linux", "arm64", None)];
        assert!(select_platform(&plain, &p("linux", "arm64", Some("v8"))).is_some());
    }

    #[test]
    fn host_is_go_spelled() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!h.architecture.contains('_'), "{h}");
    }
}
