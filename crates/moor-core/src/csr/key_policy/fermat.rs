//! Fermat's factorisation test for RSA moduli whose primes are close (badkeys `fermat`,
//! CVE-2022-26320 Canon/Fujifilm printers; BR 6.1.1.3 weak-key ballot). With
//! a = ⌈√n⌉, tries a, a+1, … and refuses when a² − n is a perfect square b², since then
//! n = (a − b)(a + b). Arithmetic on little-endian u32 limbs; no bigint crate.

use std::cmp::Ordering;

/// How many values of a are tried (badkeys uses 100).
const ROUNDS: usize = 100;

type Limbs = Vec<u32>;

/// True if `n` (big-endian magnitude) factors within [`ROUNDS`] Fermat steps.
pub(super) fn factors_close(n: &[u8]) -> bool {
    let n = from_be_bytes(n);
    if n.is_empty() {
        return false;
    }
    let (root, rem) = isqrt_rem(&n);
    if rem.is_empty() {
        return true;
    }
    // a = root + 1; a² − n = root² + 2·root + 1 − n = 2·root + 1 − rem, and rem ≤ 2·root.
    let mut a = root.clone();
    add_small(&mut a, 1);
    let mut b2 = root.clone();
    add_assign(&mut b2, &root);
    add_small(&mut b2, 1);
    sub_assign(&mut b2, &rem);
    for _ in 0..ROUNDS {
        if is_square(&b2) {
            return true;
        }
        // (a + 1)² − n = a² − n + 2a + 1.
        add_assign(&mut b2, &a);
        add_assign(&mut b2, &a);
        add_small(&mut b2, 1);
        add_small(&mut a, 1);
    }
    false
}

/// True if `v` is a perfect square; cheap quadratic-residue filters first.
fn is_square(v: &Limbs) -> bool {
    for m in [64u32, 63, 65, 11] {
        let r = rem_small(v, m);
        if !(0..m).any(|x| x * x % m == r) {
            return false;
        }
    }
    isqrt_rem(v).1.is_empty()
}

/// Integer square root and remainder by the binary digit-by-digit method.
fn isqrt_rem(n: &Limbs) -> (Limbs, Limbs) {
    let mut rem = n.clone();
    let mut root: Limbs = Vec::new();
    let bits = bit_len(n);
    if bits == 0 {
        return (root, rem);
    }
    // The highest power of four not above n.
    let shift = (bits - 1) & !1;
    let mut bit: Limbs = vec![0; shift / 32 + 1];
    bit[shift / 32] = 1 << (shift % 32);
    while !bit.is_empty() {
        let mut t = root.clone();
        add_assign(&mut t, &bit);
        shr_assign(&mut root, 1);
        if cmp(&rem, &t) != Ordering::Less {
            sub_assign(&mut rem, &t);
            add_assign(&mut root, &bit);
        }
        shr_assign(&mut bit, 2);
    }
    (root, rem)
}

fn from_be_bytes(bytes: &[u8]) -> Limbs {
    let mut out: Limbs = bytes
        .rchunks(4)
        .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect();
    trim(&mut out);
    out
}

fn trim(v: &mut Limbs) {
    while v.last() == Some(&0) {
        v.pop();
    }
}

fn bit_len(v: &Limbs) -> usize {
    match v.last() {
        Some(&top) => (v.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
        None => 0,
    }
}

fn cmp(a: &Limbs, b: &Limbs) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn add_assign(a: &mut Limbs, b: &Limbs) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    let mut carry = 0u64;
    for (i, limb) in a.iter_mut().enumerate() {
        let sum = u64::from(*limb) + u64::from(b.get(i).copied().unwrap_or(0)) + carry;
        *limb = sum as u32; // keeps the low 32 bits by design
        carry = sum >> 32;
    }
    if carry != 0 {
        a.push(1);
    }
}

fn add_small(a: &mut Limbs, v: u32) {
    add_assign(a, &vec![v]);
}

/// a −= b; callers guarantee a ≥ b.
fn sub_assign(a: &mut Limbs, b: &Limbs) {
    let mut borrow = 0i64;
    for (i, limb) in a.iter_mut().enumerate() {
        let mut d = i64::from(*limb) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
        borrow = 0;
        if d < 0 {
            d += 1 << 32;
            borrow = 1;
        }
        *limb = d as u32; // 0 <= d < 2^32 here
    }
    trim(a);
}

fn shr_assign(a: &mut Limbs, bits: u32) {
    let mut carry = 0u32;
    for limb in a.iter_mut().rev() {
        let next = *limb << (32 - bits);
        *limb = (*limb >> bits) | carry;
        carry = next;
    }
    trim(a);
}

fn rem_small(a: &Limbs, m: u32) -> u32 {
    let m = u64::from(m);
    let r = a
        .iter()
        .rev()
        .fold(0u64, |r, &limb| ((r << 32) | u64::from(limb)) % m);
    r as u32 // r < m <= u32::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_small_values() {
        for n in 0u64..2000 {
            let limbs = from_be_bytes(&n.to_be_bytes());
            let (r, rem) = isqrt_rem(&limbs);
            let r = r.iter().rev().fold(0u64, |a, &l| (a << 32) | u64::from(l));
            let rem = rem
                .iter()
                .rev()
                .fold(0u64, |a, &l| (a << 32) | u64::from(l));
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
            assert_eq!(r * r + rem, n);
        }
        let big = from_be_bytes(&u128::MAX.to_be_bytes());
        let (r, _) = isqrt_rem(&big);
        assert_eq!(r, vec![u32::MAX, u32::MAX]);
    }
}
