//! Dotted object identifiers used by the CSR checks.

pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub const SHA256_RSA: &str = "1.2.840.113549.1.1.11";
pub const SHA384_RSA: &str = "1.2.840.113549.1.1.12";
pub const SHA512_RSA: &str = "1.2.840.113549.1.1.13";
pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
pub const MGF1: &str = "1.2.840.113549.1.1.8";
pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
pub const SHA384: &str = "2.16.840.1.101.3.4.2.2";
pub const SHA512: &str = "2.16.840.1.101.3.4.2.3";
pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
pub const P256: &str = "1.2.840.10045.3.1.7";
pub const P384: &str = "1.3.132.0.34";
pub const P521: &str = "1.3.132.0.35";
pub const SECP256K1: &str = "1.3.132.0.10";
pub const ED25519: &str = "1.3.101.112";
pub const ED448: &str = "1.3.101.113";
pub const X25519: &str = "1.3.101.110";
pub const X448: &str = "1.3.101.111";
pub const DSA: &str = "1.2.840.10040.4.1";
pub const ML_DSA_44: &str = "2.16.840.1.101.3.4.3.17";
pub const ML_DSA_65: &str = "2.16.840.1.101.3.4.3.18";
pub const ML_DSA_87: &str = "2.16.840.1.101.3.4.3.19";
pub const EXT_KEY_USAGE: &str = "2.5.29.15";
pub const EXT_SAN: &str = "2.5.29.17";
pub const EXT_BASIC_CONSTRAINTS: &str = "2.5.29.19";
pub const NAME_CONSTRAINTS: &str = "2.5.29.30";
pub const EXT_EKU: &str = "2.5.29.37";
pub const EKU_ANY: &str = "2.5.29.37.0";
pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
pub const EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
pub const EKU_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
pub const EKU_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
pub const EKU_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

/// The name of a known weak signature algorithm (MD2/MD4/MD5/SHA-1/SHA-224, DSA).
pub fn weak_signature_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.3" => "md4WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.3.14.3.2.29" => "sha1WithRSA (OIW)",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "2.16.840.1.101.3.4.3.1" => "dsa-with-sha224",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
        _ => return None,
    })
}
