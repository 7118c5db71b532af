use crate::{Error, Result};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Checks `algo:hex` for the algorithms Docker registers (sha256, sha384, sha512).
pub(crate) fn validate(d: &str) -> Result<()> {
    let bad = || Error::InvalidDigest(d.to_string());
    let (algo, hex) = d.split_once(':').ok_or_else(bad)?;
    let len = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    let lower_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() != len || !lower_hex {
        return Err(bad());
    }
    Ok(())
}

/// A running hash in the algorithm of the digest it will be checked against.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(expected: &str) -> Result<Self> {
        validate(expected)?;
        Ok(match expected.split_once(':').map(|(a, _)| a) {
            Some("sha384") => Self::Sha384(Sha384::new()),
            Some("sha512") => Self::Sha512(Sha512::new()),
            _ => Self::Sha256(Sha256::new()),
        })
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }
    /// `algo:hex`.
    pub fn finish(self) -> String {
        match self {
            Self::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Self::Sha384(h) => format!("sha384:{}", hex::encode(h.finalize())),
            Self::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// Checks that `data` hashes to `expected` (in its algorithm).
pub(crate) fn verify(expected: &str, data: &[u8]) -> Result<()> {
    let mut h = Hasher::new(expected)?;
    h.update(data);
    let actual = h.finish();
    if actual != expected {
        return Err(Error::DigestMismatch {
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let d = sha256_digest(b"");
        assert_eq!(
            d,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        validate(&d).unwrap();
        verify(&d, b"").unwrap();
        assert!(matches!(
            verify(&d, b"x"),
            Err(Error::DigestMismatch { .. })
        ));
        for bad in [
            "sha256:abc",
            "md5:00",
            "sha256",
            &d.to_uppercase(),
            &format!("sha512:{}", &d[7..]),
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        let sha512 = format!("sha512:{}", "a".repeat(128));
        validate(&sha512).unwrap();
        let mut h = Hasher::new(&sha512).unwrap();
        h.update(b"abc");
        assert!(h.finish().starts_with("sha512:ddaf35a1"));
    }
}
