//! Punycode (RFC 3492), used to check A-labels and to convert the Public Suffix List's
//! U-labels.

use crate::limits;

const PUNY_BASE: u32 = 36;
const PUNY_TMIN: u32 = 1;
const PUNY_TMAX: u32 = 26;
const PUNY_SKEW: u32 = 38;
const PUNY_DAMP: u32 = 700;
const PUNY_INITIAL_BIAS: u32 = 72;
const PUNY_INITIAL_N: u32 = 128;

/// RFC 3492 §6.1 bias adaptation.
fn puny_adapt(delta: u32, num_points: u32, first_time: bool) -> u32 {
    let mut delta = if first_time {
        delta / PUNY_DAMP
    } else {
        delta / 2
    };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2 {
        delta /= PUNY_BASE - PUNY_TMIN;
        k += PUNY_BASE;
    }
    k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW)
}

/// RFC 3492 §6.2 threshold t for position k.
fn puny_threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        PUNY_TMIN
    } else if k >= bias + PUNY_TMAX {
        PUNY_TMAX
    } else {
        k - bias
    }
}

/// Decodes Punycode (RFC 3492 §6.2) of lower-case ASCII; `None` on any error or overflow.
pub(super) fn punycode_decode(input: &str) -> Option<Vec<char>> {
    if !input.is_ascii() {
        return None;
    }
    let (basic, extended) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let mut n = PUNY_INITIAL_N;
    let mut i: u32 = 0;
    let mut bias = PUNY_INITIAL_BIAS;
    let mut digits = extended.bytes();
    let mut next = digits.next();
    while next.is_some() {
        let old_i = i;
        let mut w: u32 = 1;
        let mut k = PUNY_BASE;
        loop {
            let digit = match next? {
                c @ b'a'..=b'z' => u32::from(c - b'a'),
                c @ b'0'..=b'9' => u32::from(c - b'0') + 26,
                _ => return None,
            };
            next = digits.next();
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = puny_threshold(k, bias);
            if digit < t {
                break;
            }
            w = w.checked_mul(PUNY_BASE - t)?;
            k += PUNY_BASE;
        }
        let len = u32::try_from(output.len()).ok()?.checked_add(1)?;
        bias = puny_adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let c = char::from_u32(n)?;
        if c.is_ascii() {
            return None;
        }
        output.insert(usize::try_from(i).ok()?, c);
        i += 1;
        if output.len() > limits::MAX_DNS_LABEL_LEN {
            return None;
        }
    }
    Some(output)
}

/// Encodes to Punycode (RFC 3492 §6.3); `None` on overflow.
pub(super) fn punycode_encode(input: &[char]) -> Option<String> {
    let mut output: String = input.iter().filter(|c| c.is_ascii()).collect();
    let basic = u32::try_from(output.len()).ok()?;
    let total = u32::try_from(input.len()).ok()?;
    if basic > 0 {
        output.push('-');
    }
    let mut n = PUNY_INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = PUNY_INITIAL_BIAS;
    let mut h = basic;
    while h < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = PUNY_BASE;
                loop {
                    let t = puny_threshold(k, bias);
                    if q < t {
                        break;
                    }
                    output.push(puny_digit(t + (q - t) % (PUNY_BASE - t))?);
                    q = (q - t) / (PUNY_BASE - t);
                    k += PUNY_BASE;
                }
                output.push(puny_digit(q)?);
                bias = puny_adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(output)
}

/// The Punycode digit for a value 0..36 (lower case).
fn puny_digit(d: u32) -> Option<char> {
    match d {
        0..=25 => char::from_u32(u32::from(b'a') + d),
        26..=35 => char::from_u32(u32::from(b'0') + d - 26),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punycode_rfc3492_vectors() {
        let cases = [
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
            // RFC 3492 §7.1 (A) Arabic (Egyptian), (B) Chinese (simplified), (L) Japanese.
            (
                "\u{644}\u{64a}\u{647}\u{645}\u{627}\u{628}\u{62a}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64a}\u{61f}",
                "egbpdaj6bu4bxfgehfvwxn",
            ),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("3年b組金八先生", "3b-ww4c5e180e575a65lsy2b"),
            ("ü", "tda"),
        ];
        for (unicode, puny) in cases {
            let chars: Vec<char> = unicode.chars().collect();
            assert_eq!(punycode_encode(&chars).as_deref(), Some(puny), "{unicode}");
            assert_eq!(punycode_decode(puny), Some(chars), "{puny}");
        }
        for junk in [
            "",
            "-",
            "99999999999999",
            "a-!",
            "zzzzzzzzzzzzzzzzzzzzz9",
            "\u{e9}",
        ] {
            let _ = punycode_decode(junk);
        }
    }
}
