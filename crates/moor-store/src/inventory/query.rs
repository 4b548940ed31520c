//! The inventory's search language, shared by `moor certs`, the REST API, group actions
//! and the dashboard: terms joined by whitespace or `AND`, each
//!
//! - `field=value` — exact: `subject`, `issuer`, `serial`, `fingerprint`, `kind`, `source`,
//!   `key.algorithm`, `signature.algorithm`, `chain`, `owner`, `team`, `spki`, `san`,
//!   `location` (`host:port`, a host's every port, or a directory's every file), `status`
//!   (`active`, `expiring`, `expired`, `revoked`, `superseded`), `seen` (`live`, `gone`,
//!   `never`);
//! - `field~text` — contains (case-insensitive; `subject`, `issuer`, `owner`, `team`);
//! - `label:name=value`;
//! - `expires<30d`, `expires>7d` (from now; `h`, `d`, `w` units), `expires<@1735689600`
//!   (an absolute Unix time);
//! - a bare word — a SAN (`example.com`), or a fingerprint / serial when it is hex.
//!
//! Parsing never panics and bounds everything: at most [`MAX_TERMS`] terms of at most
//! [`MAX_VALUE`] bytes each.

use serde::{Deserialize, Serialize};

/// At most this many terms in one query.
pub const MAX_TERMS: usize = 16;
/// At most this many bytes in one value.
pub const MAX_VALUE: usize = 512;
/// At most this many bytes in a whole query.
pub const MAX_QUERY: usize = 4096;

/// A column searched by equality or containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Subject,
    Issuer,
    Serial,
    Fingerprint,
    Kind,
    Source,
    KeyAlgorithm,
    SignatureAlgorithm,
    Chain,
    Owner,
    Team,
    Spki,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "subject" => Field::Subject,
            "issuer" => Field::Issuer,
            "serial" => Field::Serial,
            "fingerprint" | "fp" => Field::Fingerprint,
            "kind" => Field::Kind,
            "source" => Field::Source,
            "key.algorithm" | "key" => Field::KeyAlgorithm,
            "signature.algorithm" | "signature" => Field::SignatureAlgorithm,
            "chain" | "position" => Field::Chain,
            "owner" => Field::Owner,
            "team" => Field::Team,
            "spki" => Field::Spki,
            _ => return None,
        })
    }

    /// The inventory column.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Field::Subject => "subject",
            Field::Issuer => "issuer",
            Field::Serial => "serial_hex",
            Field::Fingerprint => "fingerprint",
            Field::Kind => "kind",
            Field::Source => "source",
            Field::KeyAlgorithm => "key_algorithm",
            Field::SignatureAlgorithm => "signature_algorithm",
            Field::Chain => "chain_position",
            Field::Owner => "owner",
            Field::Team => "team",
            Field::Spki => "spki_sha256",
        }
    }

    /// Whether values are stored lower case (hex), so a query value is folded too.
    fn folds(self) -> bool {
        matches!(self, Field::Serial | Field::Fingerprint | Field::Spki)
    }
}

/// An item's status, computed from its columns at the query's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Expiring,
    Expired,
    Revoked,
    Superseded,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "active" | "valid" => Status::Active,
            "expiring" => Status::Expiring,
            "expired" => Status::Expired,
            "revoked" => Status::Revoked,
            "superseded" => Status::Superseded,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Superseded => "superseded",
        }
    }
}

/// Whether an item is seen somewhere now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seen {
    /// At least one location where the last scan still found it.
    Live,
    /// Seen before, at no location any more.
    Gone,
    /// Never seen anywhere.
    Never,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Term {
    Eq(Field, String),
    Contains(Field, String),
    Label(String, String),
    San(String),
    Location(String),
    /// `not_after < t`.
    ExpiresBefore(i64),
    /// `not_after >= t`.
    ExpiresAfter(i64),
    Status(Status),
    Seen(Seen),
    /// A bare hex word: fingerprint or serial.
    Hex(String),
}

/// A parsed query: all terms must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// Why a query does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad query: {0}")]
pub struct QueryError(pub String);

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Parse a duration relative to `now` (`30d`, `12h`, `2w`, `90m`, `45s`) or an absolute
/// time `@unix`.
fn parse_when(v: &str, now: i64) -> Result<i64, QueryError> {
    if let Some(abs) = v.strip_prefix('@') {
        return abs
            .parse::<i64>()
            .map_err(|_| QueryError(format!("bad time {:?}", clip(v))));
    }
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| QueryError(format!("bad duration {:?} (like 30d, 12h)", clip(v))))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "" | "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(QueryError(format!("bad duration unit in {:?}", clip(v)))),
    };
    n.checked_mul(mult)
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| QueryError(format!("duration {:?} out of range", clip(v))))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parse `text` at `now` (relative expiry terms are fixed to absolute times here).
pub fn parse(text: &str, now: i64) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY {
        return Err(QueryError(format!(
            "longer than {MAX_QUERY} bytes ({})",
            text.len()
        )));
    }
    let mut terms = Vec::new();
    for word in text.split_whitespace() {
        if word == "AND" || word == "and" || word == "&&" {
            continue;
        }
        if terms.len() == MAX_TERMS {
            return Err(QueryError(format!("more than {MAX_TERMS} terms")));
        }
        if word.len() > MAX_VALUE {
            return Err(QueryError(format!("a term longer than {MAX_VALUE} bytes")));
        }
        if word.chars().any(char::is_control) {
            return Err(QueryError("control characters".into()));
        }
        terms.push(term(word, now)?);
    }
    Ok(Query { terms })
}

fn term(word: &str, now: i64) -> Result<Term, QueryError> {
    if let Some(rest) = word.strip_prefix("label:") {
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| QueryError(format!("{:?}: a label is label:name=value", clip(word))))?;
        if name.is_empty() {
            return Err(QueryError(format!("{:?}: empty label name", clip(word))));
        }
        return Ok(Term::Label(name.to_owned(), value.to_owned()));
    }
    if let Some(rest) = word.strip_prefix("expires") {
        if let Some(v) = rest.strip_prefix('<') {
            return Ok(Term::ExpiresBefore(parse_when(v, now)?));
        }
        if let Some(v) = rest.strip_prefix('>') {
            return Ok(Term::ExpiresAfter(parse_when(v, now)?));
        }
    }
    if let Some((name, value)) = word.split_once('~') {
        let field = Field::parse(name)
            .filter(|f| {
                matches!(
                    f,
                    Field::Subject | Field::Issuer | Field::Owner | Field::Team
                )
            })
            .ok_or_else(|| {
                QueryError(format!(
                    "{:?}: ~ searches subject, issuer, owner or team",
                    clip(word)
                ))
            })?;
        if value.is_empty() {
            return Err(QueryError(format!("{:?}: empty value", clip(word))));
        }
        return Ok(Term::Contains(field, value.to_owned()));
    }
    if let Some((name, value)) = word.split_once('=') {
        return Ok(match name {
            "san" | "name" | "dns" | "ip" => Term::San(san_value(value)),
            "location" | "at" => Term::Location(value.to_owned()),
            "status" => Term::Status(Status::parse(value).ok_or_else(|| {
                QueryError(format!(
                    "status {:?}: one of active, expiring, expired, revoked, superseded",
                    clip(value)
                ))
            })?),
            "seen" => Term::Seen(match value {
                "live" | "yes" => Seen::Live,
                "gone" => Seen::Gone,
                "never" | "no" => Seen::Never,
                _ => {
                    return Err(QueryError(format!(
                        "seen {:?}: one of live, gone, never",
                        clip(value)
                    )));
                }
            }),
            _ => {
                let field = Field::parse(name)
                    .ok_or_else(|| QueryError(format!("unknown field {:?}", clip(name))))?;
                let value = if field.folds() {
                    value.to_ascii_lowercase().replace(':', "")
                } else {
                    value.to_owned()
                };
                Term::Eq(field, value)
            }
        });
    }
    if word.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Term::San(san_value(word)));
    }
    let lower = word.to_ascii_lowercase().replace(':', "");
    // Colons only as byte separators (`AB:CD:…`), as fingerprints are printed.
    let byte_groups = !word.contains(':') || word.split(':').all(|g| g.len() == 2);
    if is_hex(&lower)
        && byte_groups
        && (lower.len() == 64 || !word.contains('.'))
        && lower.len() >= 8
    {
        return Ok(Term::Hex(lower));
    }
    Ok(Term::San(san_value(word)))
}

/// A SAN as the index keeps it: the bare value, lower case; an IP address in its
/// canonical text (IPv6 compressed, as certificates are described).
fn san_value(v: &str) -> String {
    let bare = match v.split_once(':') {
        Some(("dns" | "ip" | "email" | "uri", rest)) => rest,
        _ => v,
    };
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_examples() {
        let q = parse("label:env=prod AND key.algorithm=rsa-2048", 0).expect("parse");
        assert_eq!(
            q.terms,
            vec![
                Term::Label("env".into(), "prod".into()),
                Term::Eq(Field::KeyAlgorithm, "rsa-2048".into())
            ]
        );
        let q = parse("issuer=old-intermediate expires<30d", 100).expect("parse");
        assert_eq!(
            q.terms,
            vec![
                Term::Eq(Field::Issuer, "old-intermediate".into()),
                Term::ExpiresBefore(100 + 30 * 86_400)
            ]
        );
        let q = parse("WWW.Example.COM dns:a.example status=revoked", 0).expect("parse");
        assert_eq!(
            q.terms,
            vec![
                Term::San("www.example.com".into()),
                Term::San("a.example".into()),
                Term::Status(Status::Revoked)
            ]
        );
        let q = parse("2001:db8::7334 2001:DB8:85A3:0:0:8A2E:370:7334", 0).expect("parse");
        assert_eq!(
            q.terms,
            vec![
                Term::San("2001:db8::7334".into()),
                Term::San("2001:db8:85a3::8a2e:370:7334".into())
            ]
        );
        let q = parse("AB:CD:EF:01 fingerprint=ABCDEF0123", 0).expect("parse");
        assert_eq!(
            q.terms,
            vec![
                Term::Hex("abcdef01".into()),
                Term::Eq(Field::Fingerprint, "abcdef0123".into())
            ]
        );
    }

    #[test]
    fn refuses_bad_queries_without_panicking() {
        for bad in [
            "nosuch=1",
            "status=sleepy",
            "label:=x",
            "label:noequals",
            "expires<lots",
            "expires<99999999999999999999d",
            "serial~12",
            "seen=maybe",
            "subject~",
        ] {
            assert!(parse(bad, 0).is_err(), "{bad}");
        }
        assert!(parse(&"a ".repeat(MAX_TERMS + 1), 0).is_err());
        assert!(parse(&"a".repeat(MAX_QUERY + 1), 0).is_err());
        assert!(parse("\u{7}", 0).is_err());
        assert_eq!(parse("  ", 0).expect("empty").terms, vec![]);
    }
}
