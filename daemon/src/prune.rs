//! The filters of `POST /containers/prune` and `POST /images/prune`: `until` (created before a
//! time or age) and `label` / `label!`, as Docker reads them; a filter Docker does not know for
//! the prune is an error, never ignored (a prune that ignored it would delete too much).

use crate::error::{Result, ServiceError};
use std::collections::BTreeMap;

/// What a prune may delete, besides its own rules (stopped, dangling).
#[derive(Debug, Default)]
pub struct PruneFilter {
    /// Only what was created before this (seconds since the epoch).
    until: Option<f64>,
    filters: api::Filters,
}

impl PruneFilter {
    /// Reads `filters`, which may use `until`, `label`, `label!` and the prune's own `keys`.
    pub fn parse(filters: &api::Filters, keys: &[&str]) -> Result<Self> {
        let known = |k: &&str| ["until", "label", "label!"].contains(k) || keys.contains(k);
        if let Some(k) = filters.unknown_keys(&[]).into_iter().find(|k| !known(k)) {
            return Err(ServiceError::invalid(format!("invalid filter '{k}'")));
        }
        let until = match filters.get("until") {
            [] => None,
            [one] => Some(
                api::timestamp::timestamp_secs(one, chrono::Utc::now())
                    .map_err(ServiceError::invalid)?,
            ),
            _ => {
                return Err(ServiceError::invalid(
                    "more than one until filter specified",
                ))
            }
        };
        Ok(Self {
            until,
            filters: filters.clone(),
        })
    }

    /// Whether an object created at `created` (RFC 3339) with `labels` may go: created before
    /// `until`, carrying every `label`, and not every `label!` (Docker's `matchLabels`).
    pub fn allows(&self, created: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        let created = created
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9);
        let old_enough = match (self.until, created) {
            (None, _) => true,
            (Some(until), Some(c)) => c <= until,
            (Some(_), None) => false,
        };
        old_enough
            && self.filters.match_labels("label", labels)
            && !(self.filters.contains("label!") && self.filters.match_labels("label!", labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> Result<PruneFilter> {
        PruneFilter::parse(
            &api::Filters::parse(json).expect("filters JSON"),
            &["dangling"],
        )
    }

    #[test]
    fn until_and_labels_as_docker_reads_them() {
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let none = BTreeMap::new();
        let old = Some("2020-01-01T00:00:00Z");
        let all = filter("").unwrap();
        assert!(all.allows(old, &none));
        let f = filter(r#"{"until":["2021-01-01T00:00:00Z"]}"#).unwrap();
        assert!(f.allows(old, &none));
        assert!(!f.allows(Some("2022-01-01T00:00:00Z"), &none));
        assert!(filter(r#"{"until":["1h"]}"#).unwrap().allows(old, &none));
        let f = filter(r#"{"label":["a=b"]}"#).unwrap();
        assert!(f.allows(old, &labels) && !f.allows(old, &none));
        let f = filter(r#"{"label!":["a"]}"#).unwrap();
        assert!(!f.allows(old, &labels) && f.allows(old, &none));
        assert!(filter(r#"{"dangling":["true"]}"#).is_ok());
        for bad in [
            r#"{"foo":["x"]}"#,
            r#"{"until":["soon"]}"#,
            r#"{"until":["1h","2h"]}"#,
        ] {
            assert!(filter(bad).is_err(), "{bad}");
        }
    }
}
