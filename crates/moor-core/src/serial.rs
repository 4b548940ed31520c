//! Certificate serial numbers: 128 bits from the operating system's CSPRNG.
//!
//! RFC 5280 §4.1.2.2: positive, unique per issuer, at most 20 octets. The CA/B
//! Forum asks for at least 64 bits of CSPRNG output; we use 128. The serial is
//! always set explicitly (rcgen would otherwise derive it from the public key,
//! so two certificates for one key would share a serial).

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// A certificate serial number, kept as the minimal big-endian magnitude.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

/// The CSPRNG failed (the OS could not provide randomness).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessUnavailable;

impl Serial {
    /// Number of random bytes in a fresh serial.
    pub const RANDOM_BYTES: usize = 16;

    /// A fresh serial: 128 bits from the OS CSPRNG, never zero.
    pub fn random() -> Result<Serial, RandomnessUnavailable> {
        let rng = SystemRandom::new();
        loop {
            let mut buf = [0u8; Self::RANDOM_BYTES];
            rng.fill(&mut buf).map_err(|_| RandomnessUnavailable)?;
            let s = Serial::from_magnitude(&buf);
            if !s.0.is_empty() {
                return Ok(s);
            }
        }
    }

    /// A serial from big-endian magnitude bytes (leading zeros dropped).
    pub fn from_magnitude(bytes: &[u8]) -> Serial {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Serial(bytes[start..].to_vec())
    }

    /// Parse the lower/upper-case hex form (colons allowed); at most 20 octets.
    pub fn from_hex(s: &str) -> Option<Serial> {
        let clean: String = s.chars().filter(|c| *c != ':').collect();
        if clean.is_empty() || clean.len() > 40 {
            return None;
        }
        let padded = if clean.len() % 2 == 1 {
            format!("0{clean}")
        } else {
            clean
        };
        let bytes = hex::decode(padded).ok()?;
        let s = Serial::from_magnitude(&bytes);
        (!s.0.is_empty()).then_some(s)
    }

    /// The minimal big-endian magnitude.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex of the magnitude, even length: the form stored and shown.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// For rcgen's `serial_number` field (encoded as a positive INTEGER).
    pub fn to_rcgen(&self) -> rcgen::SerialNumber {
        rcgen::SerialNumber::from_slice(&self.0)
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn random_serials_are_distinct_positive_and_short() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let s = Serial::random().unwrap();
            assert!(s.as_bytes().len() <= 16 && !s.as_bytes().is_empty());
            assert_ne!(s.as_bytes()[0], 0, "minimal encoding");
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn bits_look_uniform() {
        // 10,000 serials × 128 bit positions: each bit should be set ~50% of the time.
        // With n = 10,000 the standard deviation of the count is 50; allow 6 sigma.
        let n = 10_000usize;
        let mut ones = [0usize; 128];
        for _ in 0..n {
            let s = Serial::random().unwrap();
            let mut full = [0u8; 16];
            let b = s.as_bytes();
            full[16 - b.len()..].copy_from_slice(b);
            for (i, byte) in full.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        ones[i * 8 + bit] += 1;
                    }
                }
            }
        }
        for (pos, count) in ones.iter().enumerate() {
            assert!(
                (4700..=5300).contains(count),
                "bit {pos} set {count} times of {n}"
            );
        }
    }

    #[test]
    fn hex_round_trip_and_limits() {
        let s = Serial::from_hex("00:0A:ff").unwrap();
        assert_eq!(s.to_hex(), "0aff");
        assert_eq!(Serial::from_hex(&s.to_hex()).unwrap(), s);
        assert!(Serial::from_hex("").is_none());
        assert!(Serial::from_hex("00").is_none());
        assert!(Serial::from_hex("zz").is_none());
        assert!(Serial::from_hex(&"1".repeat(41)).is_none());
    }
}
