//! dns-01 (RFC 8555 §8.4): a TXT record at `_acme-challenge.{name}` equal to
//! base64url(SHA-256(keyAuthorization)); for `*.example.com` the name is `example.com`.
//!
//! NXDOMAIN, SERVFAIL, timeouts and malformed answers are `dns` problems (fail closed);
//! no TXT record is `unauthorized`; TXT records none of which matches are
//! `incorrectResponse`.

use moor_core::identifier::Identifier;

use super::{
    Outcome, Problem, ProblemKind, Validation, ValidationRecord, Validator, dns01_txt_value,
};

/// The name whose TXT records prove control of `identifier`.
pub(crate) fn challenge_name(dns_name: &str) -> String {
    let base = dns_name.strip_prefix("*.").unwrap_or(dns_name);
    format!("_acme-challenge.{}", base.trim_end_matches('.'))
}

/// Runs a dns-01 validation (the caller checked the identifier kind).
pub(super) async fn validate(
    v: &Validator,
    identifier: &Identifier,
    key_authorization: &str,
) -> Validation {
    let Identifier::Dns(name) = identifier else {
        return Validation::invalid(
            Problem::new(
                ProblemKind::RejectedIdentifier,
                format!("dns-01 cannot validate {identifier}"),
            ),
            Vec::new(),
        );
    };
    let qname = challenge_name(name);
    let records = vec![ValidationRecord {
        hostname: qname.clone(),
        ..ValidationRecord::default()
    }];
    let found = match v.resolver().lookup_txt(&qname).await {
        Ok(f) => f,
        Err(e) => {
            return Validation::invalid(
                Problem::new(ProblemKind::Dns, format!("TXT lookup of {qname}: {e}")),
                records,
            );
        }
    };
    if found.is_empty() {
        return Validation::invalid(
            Problem::new(
                ProblemKind::Unauthorized,
                format!("no TXT record found at {qname}"),
            ),
            records,
        );
    }
    let expected = dns01_txt_value(key_authorization);
    if found
        .iter()
        .any(|txt| txt.as_slice() == expected.as_bytes())
    {
        return Validation {
            outcome: Outcome::Valid,
            records,
        };
    }
    Validation::invalid(
        Problem::new(
            ProblemKind::IncorrectResponse,
            format!(
                "none of the {} TXT records at {qname} is the expected digest {expected}",
                found.len()
            ),
        ),
        records,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_names() {
        assert_eq!(challenge_name("example.com"), "_acme-challenge.example.com");
        assert_eq!(
            challenge_name("*.example.com"),
            "_acme-challenge.example.com"
        );
        assert_eq!(
            challenge_name("a.b.example."),
            "_acme-challenge.a.b.example"
        );
    }
}
