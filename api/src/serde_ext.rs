//! Docker's serde quirks: filters in two encodings, `null` for empty lists, and similar.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashMap};

/// List filters (`?filters=`), normalised to `key → values`.
///
/// Docker clients send either `{"name":{"x":true}}` (the CLI, all versions) or the older
/// `{"name":["x"]}`; both decode to the same map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the JSON text of a `filters` query parameter; an empty string means no filters.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            List(Vec<String>),
            Map(HashMap<String, bool>),
        }
        let raw: HashMap<String, Values> =
            serde_json::from_str(text).map_err(|e| format!("invalid filter: {e}"))?;
        let mut out = BTreeMap::new();
        for (k, v) in raw {
            let mut values = match v {
                Values::List(l) => l,
                Values::Map(m) => m
                    .into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(k, _)| k)
                    .collect(),
            };
            values.sort();
            out.insert(k, values);
        }
        Ok(Self(out))
    }

    /// Encodes in the map form the docker CLI uses.
    pub fn to_query(&self) -> String {
        let m: BTreeMap<&String, BTreeMap<&String, bool>> = self
            .0
            .iter()
            .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
            .collect();
        serde_json::to_string(&m).expect("a map of strings always serialises")
    }

    /// Whether `key` is given (with any values).
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The values given for `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Docker's `MatchKVList`: every value of `key` (`k`, or `k=v`) names a label of `labels`
    /// (with that value). True when `key` is not given.
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
            None => labels.contains_key(l.as_str()),
        })
    }

    /// Keys present that are not in `allowed`.
    pub fn unknown_keys<'a>(&'a self, allowed: &[&str]) -> Vec<&'a str> {
        self.0
            .keys()
            .map(String::as_str)
            .filter(|k| !allowed.contains(k))
            .collect()
    }

    /// Adds one value under `key`.
    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Deserialises `null` as the type's default (Docker sends `null` for empty lists and maps).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Accepts a command as either a JSON list or a single string (older clients send `"Cmd": "ls"`).
pub fn string_or_list<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_both_encodings() {
        let a = Filters::parse(r#"{"name":{"web":true},"status":{"exited":true}}"#).unwrap();
        let b = Filters::parse(r#"{"name":["web"],"status":["exited"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("name"), ["web".to_string()]);
        assert!(Filters::parse("").unwrap().is_empty());
        assert!(Filters::parse("{bad").is_err());
    }

    #[test]
    fn filters_roundtrip_through_query() {
        let mut f = Filters::default();
        f.add("label", "a=b");
        assert_eq!(Filters::parse(&f.to_query()).unwrap(), f);
    }
}
