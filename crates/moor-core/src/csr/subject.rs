//! The subject: its first commonName and whether it is empty.

use x509_parser::asn1_rs::Tag;
use x509_parser::certification_request::X509CertificationRequest;

use super::bad_csr;
use crate::refusal::Refusal;

/// The first commonName as text, and whether the subject is empty.
pub(super) fn subject_summary(
    csr: &X509CertificationRequest<'_>,
) -> Result<(Option<String>, bool), Refusal> {
    let subject = &csr.certification_request_info.subject;
    let is_empty = subject.iter_rdn().next().is_none();
    let Some(cn) = subject.iter_common_name().next() else {
        return Ok((None, is_empty));
    };
    let value = cn.attr_value();
    if !matches!(
        value.tag(),
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String
    ) {
        return Err(bad_csr(format!(
            "commonName has the unsupported string type {}",
            value.tag()
        )));
    }
    let text =
        std::str::from_utf8(value.data).map_err(|_| bad_csr("commonName is not valid UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(bad_csr("commonName contains control characters"));
    }
    if text.is_empty() {
        return Err(bad_csr("commonName is empty"));
    }
    Ok((Some(text.to_string()), is_empty))
}

#[cfg(test)]
mod tests {
    use crate::algorithm::KeyAlgorithm;
    use crate::csr::test_support::{csr_with, key_for, params, refused};
    use crate::csr::verify_csr;
    use crate::refusal::RefusalCode;
    use rcgen::{DnType, DnValue};

    // ---- B1 row 9: CN ----------------------------------------------------------------------

    #[test]
    fn common_name() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&["example.com"]);
        p.distinguished_name.push(DnType::OrganizationName, "Org");
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::PrintableString("example.com".try_into().unwrap()),
        );
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(v.common_name.as_deref(), Some("example.com"));
        assert!(!v.subject_is_empty);
        let mut p = params(&["example.com"]);
        p.distinguished_name
            .push(DnType::OrganizationName, "Org only");
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(v.common_name, None);
        assert!(!v.subject_is_empty);
        let mut p = params(&["example.com"]);
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::BmpString("example.com".try_into().unwrap()),
        );
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "string type",
        );
        let mut p = params(&["example.com"]);
        p.distinguished_name
            .push(DnType::CommonName, "exa\u{0}mple.com");
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "control",
        );
    }
}
