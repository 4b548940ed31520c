//! CAA (RFC 8659) with the ACME parameters `accounturi` and `validationmethods` (RFC 8657).
//!
//! The relevant RRset is the first non-empty CAA RRset found climbing from the name (the
//! base name for a wildcard) to its TLD; NXDOMAIN counts as empty, any other DNS failure
//! refuses issuance (fail closed). In that RRset a critical property with a tag we do not
//! understand refuses issuance; for a wildcard the `issuewild` properties decide when there
//! are any, otherwise the `issue` ones; with none, any CA may issue. A property authorizes
//! us when its issuer domain is one of our CAA identities and its parameters allow this
//! account and this validation method. Malformed values authorize nobody.

use moor_core::identifier::Identifier;

use super::{ChallengeType, DnsError, Problem, ProblemKind, Validator};

/// Property tags this CA understands; a critical property with any other tag forbids.
const KNOWN_TAGS: [&str; 3] = ["issue", "issuewild", "iodef"];
/// Longest CAA property value looked at.
const MAX_VALUE_LEN: usize = 1024;

/// One CAA property (RFC 8659 §4.1) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaProperty {
    /// The flags octet; 128 is Issuer Critical.
    pub flags: u8,
    /// The tag as sent (compared case-insensitively).
    pub tag: String,
    /// The raw value.
    pub value: Vec<u8>,
}

impl CaaProperty {
    /// A property from its parts (tests, tools).
    pub fn new(flags: u8, tag: &str, value: &str) -> CaaProperty {
        CaaProperty {
            flags,
            tag: tag.to_string(),
            value: value.as_bytes().to_vec(),
        }
    }

    /// True if the Issuer Critical flag is set.
    pub fn critical(&self) -> bool {
        self.flags & 0x80 != 0
    }

    fn tag_is(&self, tag: &str) -> bool {
        self.tag.eq_ignore_ascii_case(tag)
    }
}

/// A parsed `issue`/`issuewild` value (RFC 8659 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueValue {
    /// The issuer domain, lower case; `None` for `;` (no CA may issue).
    pub issuer: Option<String>,
    /// The parameters in order, tags lower case.
    pub parameters: Vec<(String, String)>,
}

impl IssueValue {
    fn params(&self, tag: &str) -> Vec<&str> {
        self.parameters
            .iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// RFC 5234 WSP.
const WSP: [char; 2] = [' ', '\t'];

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`: a label or a parameter tag.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Parses an `issue`/`issuewild` property value:
/// `*WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]`.
pub fn parse_issue_value(value: &[u8]) -> Result<IssueValue, String> {
    if value.len() > MAX_VALUE_LEN {
        return Err(format!("value longer than {MAX_VALUE_LEN} bytes"));
    }
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or("value is not ASCII")?;
    let (domain, params) = match text.find(';') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let domain = domain.trim_matches(WSP);
    let issuer = if domain.is_empty() {
        None
    } else {
        let d = domain.strip_suffix('.').unwrap_or(domain);
        if d.len() > 253 || !d.split('.').all(is_label) {
            return Err(format!("issuer domain {domain:?} is not a domain name"));
        }
        Some(d.to_ascii_lowercase())
    };
    let mut parameters = Vec::new();
    for piece in params.into_iter().flat_map(|p| p.split(';')) {
        let piece = piece.trim_matches(WSP);
        if piece.is_empty() {
            continue;
        }
        let (tag, val) = piece
            .split_once('=')
            .ok_or_else(|| format!("parameter {piece:?} has no '='"))?;
        let tag = tag.trim_end_matches(WSP);
        let val = val.trim_start_matches(WSP);
        if !is_label(tag) {
            return Err(format!("parameter tag {tag:?} is malformed"));
        }
        if !val
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b';' && !is_wsp(b))
        {
            return Err(format!("parameter {tag} has a malformed value"));
        }
        parameters.push((tag.to_ascii_lowercase(), val.to_string()));
    }
    Ok(IssueValue { issuer, parameters })
}

/// Evaluates the relevant RRset (RFC 8659 §4, RFC 8657 §3–4). `Ok(reason)` permits,
/// `Err(reason)` forbids.
pub fn evaluate_caa(
    rrset: &[CaaProperty],
    wildcard: bool,
    identities: &[String],
    account_uri: &str,
    method: ChallengeType,
) -> Result<String, String> {
    if let Some(p) = rrset
        .iter()
        .find(|p| p.critical() && !KNOWN_TAGS.iter().any(|t| p.tag_is(t)))
    {
        return Err(format!(
            "a critical CAA property with the unknown tag {:?} forbids issuance",
            super::shown(p.tag.as_bytes(), 32)
        ));
    }
    let issuewild: Vec<&CaaProperty> = rrset.iter().filter(|p| p.tag_is("issuewild")).collect();
    let (tag, relevant): (&str, Vec<&CaaProperty>) = if wildcard && !issuewild.is_empty() {
        ("issuewild", issuewild)
    } else {
        (
            "issue",
            rrset.iter().filter(|p| p.tag_is("issue")).collect(),
        )
    };
    if relevant.is_empty() {
        return Ok("the CAA records have no issue or issuewild property".into());
    }
    let mut why_not = Vec::new();
    for p in &relevant {
        let shown = super::shown(&p.value, 80);
        let value = match parse_issue_value(&p.value) {
            Ok(v) => v,
            Err(e) => {
                why_not.push(format!("{tag} \"{shown}\" is malformed ({e})"));
                continue;
            }
        };
        let Some(issuer) = &value.issuer else {
            why_not.push(format!("{tag} \"{shown}\" allows no CA"));
            continue;
        };
        if !identities
            .iter()
            .any(|id| id.trim_end_matches('.').eq_ignore_ascii_case(issuer))
        {
            why_not.push(format!("{tag} \"{shown}\" names another CA"));
            continue;
        }
        let accounts = value.params("accounturi");
        match accounts.as_slice() {
            [] => {}
            [one] if *one == account_uri => {}
            [_] => {
                why_not.push(format!(
                    "{tag} \"{shown}\": accounturi is not this account ({account_uri})"
                ));
                continue;
            }
            _ => {
                why_not.push(format!(
                    "{tag} \"{shown}\": accounturi appears more than once"
                ));
                continue;
            }
        }
        let methods = value.params("validationmethods");
        match methods.as_slice() {
            [] => {}
            [one] => {
                let list: Vec<&str> = one.split(',').collect();
                if !list.iter().all(|m| is_label(m)) {
                    why_not.push(format!("{tag} \"{shown}\": validationmethods is malformed"));
                    continue;
                }
                if !list.contains(&method.as_str()) {
                    why_not.push(format!(
                        "{tag} \"{shown}\": validationmethods does not include {method}"
                    ));
                    continue;
                }
            }
            _ => {
                why_not.push(format!(
                    "{tag} \"{shown}\": validationmethods appears more than once"
                ));
                continue;
            }
        }
        return Ok(format!("CAA {tag} \"{shown}\" authorizes this CA"));
    }
    Err(format!(
        "CAA forbids issuance: {}",
        why_not.into_iter().take(8).collect::<Vec<_>>().join("; ")
    ))
}

/// Whether CAA permits issuance, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaDecision {
    /// True if this CA may issue.
    pub permitted: bool,
    /// Why, for the audit log and the problem detail.
    pub reason: String,
    /// The domain whose CAA RRset decided, if any.
    pub relevant_domain: Option<String>,
}

impl CaaDecision {
    pub(crate) fn permitted(domain: Option<String>, reason: impl Into<String>) -> CaaDecision {
        CaaDecision {
            permitted: true,
            reason: reason.into(),
            relevant_domain: domain,
        }
    }

    pub(crate) fn forbidden(domain: Option<String>, reason: impl Into<String>) -> CaaDecision {
        CaaDecision {
            permitted: false,
            reason: reason.into(),
            relevant_domain: domain,
        }
    }

    /// The `caa` problem when issuance is forbidden.
    pub fn problem(&self) -> Option<Problem> {
        (!self.permitted).then(|| Problem::new(ProblemKind::Caa, self.reason.clone()))
    }
}

/// The CAA check of one identifier (see [`Validator::check_caa`]).
pub(super) async fn check(
    v: &Validator,
    identifier: &Identifier,
    account_uri: &str,
    method: ChallengeType,
) -> CaaDecision {
    let name = match identifier {
        Identifier::Dns(n) => n,
        Identifier::Ip(_) => {
            return CaaDecision::permitted(
                None,
                "CAA does not apply to IP addresses (RFC 8738 §7)",
            );
        }
        other => {
            return CaaDecision::forbidden(None, format!("CAA cannot be checked for {other}"));
        }
    };
    let wildcard = identifier.is_wildcard();
    let base = name
        .strip_prefix("*.")
        .unwrap_or(name)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let labels: Vec<&str> = base.split('.').collect();
    for i in 0..labels.len() {
        let domain = labels[i..].join(".");
        match v.resolver().lookup_caa(&domain).await {
            Ok(rrset) if rrset.is_empty() => continue,
            Err(DnsError::NxDomain) => continue,
            Ok(rrset) => {
                let d = Some(domain.clone());
                return match evaluate_caa(
                    &rrset,
                    wildcard,
                    &v.config().caa_identities,
                    account_uri,
                    method,
                ) {
                    Ok(why) => CaaDecision::permitted(d, format!("{why} (CAA at {domain})")),
                    Err(why) => CaaDecision::forbidden(d, format!("{why} (CAA at {domain})")),
                };
            }
            Err(e) => {
                return CaaDecision::forbidden(
                    Some(domain.clone()),
                    format!("CAA lookup for {domain} failed: {e}; issuance refused"),
                );
            }
        }
    }
    CaaDecision::permitted(
        None,
        format!("no CAA records for {base} or any parent domain"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "https://ca.example/acme/acct/42";

    fn ids() -> Vec<String> {
        vec!["mooring.example".into()]
    }

    fn eval(
        rrset: &[CaaProperty],
        wildcard: bool,
        method: ChallengeType,
    ) -> Result<String, String> {
        evaluate_caa(rrset, wildcard, &ids(), ACCOUNT, method)
    }

    fn issue(v: &str) -> CaaProperty {
        CaaProperty::new(0, "issue", v)
    }

    fn wild(v: &str) -> CaaProperty {
        CaaProperty::new(0, "issuewild", v)
    }

    #[test]
    fn parse_values() {
        let v = parse_issue_value(b"mooring.example").unwrap();
        assert_eq!(v.issuer.as_deref(), Some("mooring.example"));
        assert!(v.parameters.is_empty());
        let v = parse_issue_value(
            b"  Mooring.Example. ; accounturi=https://x/1 ;validationmethods=dns-01,http-01 ",
        )
        .unwrap();
        assert_eq!(v.issuer.as_deref(), Some("mooring.example"));
        assert_eq!(
            v.parameters,
            vec![
                ("accounturi".into(), "https://x/1".into()),
                ("validationmethods".into(), "dns-01,http-01".into())
            ]
        );
        let v = parse_issue_value(b";").unwrap();
        assert_eq!(v.issuer, None);
        let v = parse_issue_value(b"").unwrap();
        assert_eq!(v.issuer, None);
        let v = parse_issue_value(b"ca.example; a = b").unwrap();
        assert_eq!(v.parameters, vec![("a".into(), "b".into())]);
        for bad in [
            &b"ca..example"[..],
            b"-ca.example",
            b"ca.example; noequals",
            b"ca.example; a=b c",
            b"ca.example; -a=b",
            b"ca_example",
            b"ca.example\xff",
            b"ca.example extra",
        ] {
            assert!(
                parse_issue_value(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_issue_value(&[b'a'; 2000]).is_err());
    }

    #[test]
    fn evaluation_table() {
        use ChallengeType::*;
        let table: Vec<(&str, Vec<CaaProperty>, bool, ChallengeType, bool)> = vec![
            ("empty", vec![], false, Http01, true),
            (
                "only iodef",
                vec![CaaProperty::new(0, "iodef", "mailto:a@b.example")],
                false,
                Http01,
                true,
            ),
            ("ours", vec![issue("mooring.example")], false, Http01, true),
            (
                "ours, case and dot",
                vec![issue("MOORING.example.")],
                false,
                Http01,
                true,
            ),
            (
                "other CA",
                vec![issue("letsencrypt.org")],
                false,
                Http01,
                false,
            ),
            (
                "other and ours",
                vec![issue("letsencrypt.org"), issue("mooring.example")],
                false,
                Http01,
                true,
            ),
            ("no CA", vec![issue(";")], false, Http01, false),
            (
                "malformed ours",
                vec![issue("mooring.example; bad")],
                false,
                Http01,
                false,
            ),
            (
                "tag case",
                vec![CaaProperty::new(0, "ISSUE", "letsencrypt.org")],
                false,
                Http01,
                false,
            ),
            (
                "critical unknown",
                vec![issue("mooring.example"), CaaProperty::new(128, "tbs", "x")],
                false,
                Http01,
                false,
            ),
            (
                "non-critical unknown",
                vec![issue("mooring.example"), CaaProperty::new(0, "tbs", "x")],
                false,
                Http01,
                true,
            ),
            (
                "critical known",
                vec![CaaProperty::new(128, "issue", "mooring.example")],
                false,
                Http01,
                true,
            ),
            (
                "reserved flags ignored",
                vec![CaaProperty::new(1, "issue", "mooring.example")],
                false,
                Http01,
                true,
            ),
            // Wildcards.
            (
                "wild: issue only",
                vec![issue("mooring.example")],
                true,
                Dns01,
                true,
            ),
            (
                "wild: issuewild forbids",
                vec![issue("mooring.example"), wild(";")],
                true,
                Dns01,
                false,
            ),
            (
                "wild: issuewild other",
                vec![issue("mooring.example"), wild("other.example")],
                true,
                Dns01,
                false,
            ),
            (
                "wild: issuewild ours",
                vec![issue(";"), wild("mooring.example")],
                true,
                Dns01,
                true,
            ),
            (
                "non-wild ignores issuewild",
                vec![issue("mooring.example"), wild(";")],
                false,
                Dns01,
                true,
            ),
            (
                "non-wild: only issuewild",
                vec![wild(";")],
                false,
                Dns01,
                true,
            ),
            // RFC 8657.
            (
                "accounturi ours",
                vec![issue(&format!("mooring.example; accounturi={ACCOUNT}"))],
                false,
                Http01,
                true,
            ),
            (
                "accounturi other",
                vec![issue(
                    "mooring.example; accounturi=https://ca.example/acme/acct/7",
                )],
                false,
                Http01,
                false,
            ),
            (
                "accounturi twice",
                vec![issue(&format!(
                    "mooring.example; accounturi={ACCOUNT}; accounturi={ACCOUNT}"
                ))],
                false,
                Http01,
                false,
            ),
            (
                "methods include",
                vec![issue("mooring.example; validationmethods=dns-01,http-01")],
                false,
                Http01,
                true,
            ),
            (
                "methods exclude",
                vec![issue("mooring.example; validationmethods=dns-01")],
                false,
                Http01,
                false,
            ),
            (
                "methods tls",
                vec![issue("mooring.example; validationmethods=tls-alpn-01")],
                false,
                TlsAlpn01,
                true,
            ),
            (
                "methods malformed",
                vec![issue("mooring.example; validationmethods=http-01,,dns-01")],
                false,
                Http01,
                false,
            ),
            (
                "methods twice",
                vec![issue(
                    "mooring.example; validationmethods=http-01; validationmethods=http-01",
                )],
                false,
                Http01,
                false,
            ),
            (
                "unknown parameter ignored",
                vec![issue("mooring.example; policy=ev")],
                false,
                Http01,
                true,
            ),
            (
                "one of two records fits",
                vec![
                    issue("mooring.example; validationmethods=dns-01"),
                    issue("mooring.example; validationmethods=http-01"),
                ],
                false,
                Http01,
                true,
            ),
        ];
        for (name, rrset, wildcard, method, want) in table {
            let got = eval(&rrset, wildcard, method);
            assert_eq!(got.is_ok(), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn reasons_name_the_cause() {
        let e = eval(&[issue("letsencrypt.org")], false, ChallengeType::Http01).unwrap_err();
        assert!(e.contains("names another CA"), "{e}");
        let e = eval(
            &[CaaProperty::new(128, "future", "x")],
            false,
            ChallengeType::Http01,
        )
        .unwrap_err();
        assert!(e.contains("unknown tag"), "{e}");
        let e = eval(
            &[issue("mooring.example; validationmethods=dns-01")],
            false,
            ChallengeType::Http01,
        )
        .unwrap_err();
        assert!(e.contains("does not include http-01"), "{e}");
    }

    #[test]
    fn no_identities_means_no_authorization() {
        assert!(
            evaluate_caa(
                &[issue("mooring.example")],
                false,
                &[],
                ACCOUNT,
                ChallengeType::Http01
            )
            .is_err()
        );
    }

    #[test]
    fn decisions_give_caa_problems() {
        let d = CaaDecision::forbidden(Some("example.com".into()), "no");
        assert_eq!(d.problem().unwrap().urn(), "urn:ietf:params:acme:error:caa");
        assert!(CaaDecision::permitted(None, "ok").problem().is_none());
    }
}
