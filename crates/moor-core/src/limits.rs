//! Every input bound in one place (design.md §4).

/// Largest request body any front door reads (bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest DER CSR accepted (bytes). ML-DSA-87 CSRs are about 7.5 KiB.
pub const MAX_CSR_DER_BYTES: usize = 16 * 1024;
/// Largest number of subject alternative names in one request (Boulder: 100).
pub const MAX_SANS: usize = 100;
/// Longest DNS name (RFC 1035, without the trailing dot).
pub const MAX_DNS_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035).
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Longest commonName (RFC 5280 ub-common-name).
pub const MAX_COMMON_NAME_LEN: usize = 64;
/// Longest email address SAN.
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest URI SAN.
pub const MAX_URI_LEN: usize = 2048;
/// Deepest ASN.1 nesting any of our parsers accepts.
pub const MAX_ASN1_DEPTH: usize = 32;
/// Longest profile or issuer name.
pub const MAX_NAME_LEN: usize = 64;
/// Most certificates in one listing page.
pub const MAX_PAGE_SIZE: usize = 1000;
