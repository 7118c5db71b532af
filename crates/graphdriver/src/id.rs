//! [`LayerId`], the validated name of a layer.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The id of a layer: 64 lowercase hex digits, optionally followed by `-init` (a
/// container's init layer). Checked on parse, so it is always safe as a path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(String);

const INIT_SUFFIX: &str = "-init";

impl LayerId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LayerId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let hex = s.strip_suffix(INIT_SUFFIX).unwrap_or(s);
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(LayerId(s.to_owned()))
        } else {
            Err(Error::InvalidId(s.to_owned()))
        }
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LayerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_hex_and_init() {
        let id: LayerId = HEX.parse().unwrap();
        assert_eq!(id.as_str(), HEX);
        assert_eq!(id.to_string(), HEX);
        let init: LayerId = format!("{HEX}-init").parse().unwrap();
        assert_eq!(init.as_ref(), format!("{HEX}-init"));
    }

    #[test]
    fn rejects_bad_ids() {
        let bad = [
            String::new(),
            "-init".to_owned(),
            HEX[..63].to_owned(),
            format!("{HEX}0"),
            HEX.to_uppercase(),
            format!("{}g", &HEX[..63]),
            format!("{HEX}-init-init"),
            format!("{HEX}-INIT"),
            format!("{HEX}/"),
            format!("../{}", &HEX[..61]),
            format!("sha256:{HEX}"),
        ];
        for s in bad {
            assert!(
                matches!(s.parse::<LayerId>(), Err(Error::InvalidId(ref got)) if *got == s),
                "{s:?} should be rejected"
            );
        }
    }
}
