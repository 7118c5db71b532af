//! Docker's query conventions: booleans as `1`/`true`/`True`, numbers that may be absent.

use super::error::ApiError;
use std::collections::HashMap;

/// The raw query of a request.
pub type Q = HashMap<String, String>;

/// A boolean flag: `1`, `true`, `True`, `yes` are true; absent or anything else is false.
pub fn flag(q: &Q, key: &str) -> bool {
    matches!(
        q.get(key).map(String::as_str),
        Some("1" | "true" | "True" | "TRUE" | "yes")
    )
}

/// A non-empty string value.
pub fn text<'a>(q: &'a Q, key: &str) -> Option<&'a str> {
    q.get(key).map(String::as_str).filter(|s| !s.is_empty())
}

/// An integer value; a malformed one is a 400.
pub fn int(q: &Q, key: &str) -> Result<Option<i64>, ApiError> {
    match text(q, key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid value for {key}: {v:?}"))),
    }
}

/// The `filters` parameter in either encoding.
pub fn filters(q: &Q) -> Result<api::Filters, ApiError> {
    api::Filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_booleans() {
        let q: Q = [("a", "1"), ("b", "True"), ("c", "0"), ("d", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(flag(&q, "a") && flag(&q, "b"));
        assert!(!flag(&q, "c") && !flag(&q, "d") && !flag(&q, "zz"));
    }
}
