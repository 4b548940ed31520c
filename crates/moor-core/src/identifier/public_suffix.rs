//! The Public Suffix List (ICANN section), vendored in `data/public_suffix_list.dat`.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::punycode::punycode_encode;

/// The ICANN section of the Mozilla Public Suffix List, with every rule in A-label form.
pub(super) struct PublicSuffixList {
    /// Plain rules, e.g. `com`, `co.uk`.
    rules: HashSet<String>,
    /// Wildcard rules without their `*.`, e.g. `ck` for `*.ck`.
    wildcards: HashSet<String>,
    /// Exception rules without their `!`, e.g. `www.ck`.
    exceptions: HashSet<String>,
    /// Top-level labels of all rules: the ICANN TLDs.
    tlds: HashSet<String>,
}

static PSL: LazyLock<PublicSuffixList> =
    LazyLock::new(|| PublicSuffixList::parse(include_str!("../../data/public_suffix_list.dat")));

pub(super) fn psl() -> &'static PublicSuffixList {
    &PSL
}

impl PublicSuffixList {
    /// Parses the list's ICANN section (https://publicsuffix.org/list/ format).
    fn parse(text: &str) -> PublicSuffixList {
        let mut list = PublicSuffixList {
            rules: HashSet::new(),
            wildcards: HashSet::new(),
            exceptions: HashSet::new(),
            tlds: HashSet::new(),
        };
        let mut in_icann = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("// ===BEGIN ICANN DOMAINS===") {
                in_icann = true;
                continue;
            }
            if line.starts_with("// ===END ICANN DOMAINS===") {
                break;
            }
            if !in_icann || line.is_empty() || line.starts_with("//") {
                continue;
            }
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            let Some(rule) = to_a_labels(rule) else {
                continue;
            };
            if let Some(top) = rule.rsplit('.').next() {
                list.tlds.insert(top.to_string());
            }
            if let Some(r) = rule.strip_prefix('!') {
                list.exceptions.insert(r.to_string());
            } else if let Some(r) = rule.strip_prefix("*.") {
                list.wildcards.insert(r.to_string());
            } else {
                list.rules.insert(rule);
            }
        }
        list
    }

    /// True if `label` is a top-level domain in the ICANN section.
    pub(super) fn is_icann_tld(&self, label: &str) -> bool {
        self.tlds.contains(label)
    }

    /// True if `name` (lower-case A-labels) is itself a public suffix under the list's
    /// algorithm: matched by a rule, by a wildcard rule, or a bare TLD (the default `*`
    /// rule), unless an exception rule names it.
    pub(super) fn is_public_suffix(&self, name: &str) -> bool {
        if self.exceptions.contains(name) {
            return false;
        }
        if self.rules.contains(name) {
            return true;
        }
        match name.split_once('.') {
            Some((_, parent)) => self.wildcards.contains(parent),
            None => true,
        }
    }
}

/// Converts a rule's labels to lower-case A-labels (`!` and `*.` prefixes kept).
fn to_a_labels(rule: &str) -> Option<String> {
    if rule.is_ascii() {
        return Some(rule.to_ascii_lowercase());
    }
    let labels: Option<Vec<String>> = rule
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_ascii_lowercase())
            } else {
                let chars: Vec<char> = label.to_lowercase().chars().collect();
                punycode_encode(&chars).map(|p| format!("xn--{p}"))
            }
        })
        .collect();
    labels.map(|l| l.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffix_list_loaded() {
        let psl = psl();
        assert!(psl.rules.len() > 5000, "{}", psl.rules.len());
        assert!(psl.is_icann_tld("com") && psl.is_icann_tld("uk") && psl.is_icann_tld("bd"));
        assert!(psl.is_icann_tld("xn--p1ai"));
        assert!(!psl.is_icann_tld("local") && !psl.is_icann_tld("internal"));
        assert!(psl.is_public_suffix("com"));
        assert!(psl.is_public_suffix("co.uk"));
        assert!(psl.is_public_suffix("anything.bd"));
        assert!(!psl.is_public_suffix("www.ck"));
        assert!(!psl.is_public_suffix("example.com"));
    }
}
