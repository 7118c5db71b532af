//! Container names: Docker's validation rule and its `adjective_surname` generator.

use crate::error::{Result, ServiceError};

/// Checks a user-given name (`/` prefix allowed) against Docker's rule
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+` and returns it without the slash.
pub fn validate(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let b = bare.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if !ok {
        return Err(ServiceError::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(bare.to_string())
}

const LEFT: &[&str] = &[
    "agile", "bold", "brave", "calm", "clever", "crisp", "eager", "fair", "gentle", "happy",
    "keen", "kind", "lucid", "merry", "nimble", "proud", "quick", "quiet", "sharp", "steady",
    "sunny", "swift", "tender", "vivid", "wise", "witty", "zen",
];

const RIGHT: &[&str] = &[
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday", "fermat",
    "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "maxwell", "meitner",
    "newton", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "turing", "wozniak",
];

/// A random `adjective_surname`; `taken` tells whether a candidate is in use.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0.. {
        let r = uuid::Uuid::new_v4().as_u128();
        let base = format!(
            "{}_{}",
            LEFT[(r % LEFT.len() as u128) as usize],
            RIGHT[((r >> 32) % RIGHT.len() as u128) as usize]
        );
        let name = if attempt < 10 {
            base
        } else {
            format!("{base}{}", (r >> 64) % 100)
        };
        if !taken(&name) {
            return name;
        }
    }
    unreachable!("the loop above only ends by returning")
}

/// A new random 64-hex container or layer id.
pub fn new_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rule() {
        assert_eq!(validate("/web_1").unwrap(), "web_1");
        assert_eq!(validate("a.b-c").unwrap(), "a.b-c");
        for bad in ["x", "", "-ab", "a b", "a/b", "é1"] {
            let e = validate(bad).unwrap_err();
            assert!(e.message().starts_with("Invalid container name"), "{bad}");
        }
    }

    #[test]
    fn generated_names_are_valid_and_free() {
        let n = generate(|c| c.starts_with('a'));
        assert!(validate(&n).is_ok() && !n.starts_with('a'));
        assert_eq!(new_id().len(), 64);
    }
}
