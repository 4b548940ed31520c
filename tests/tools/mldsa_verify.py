#!/usr/bin/env python3
"""Independent ML-DSA (FIPS 204) X.509 signature check for Mooring's tests.

Usage:
  mldsa_verify.py [--cross] ISSUER_CERT SUBJECT_CERT    (PEM or DER; first certificate in a PEM file)
  mldsa_verify.py --self-test

Checks that SUBJECT_CERT is signed by ISSUER_CERT's key with pure ML-DSA
(RFC 9881: signatureAlgorithm id-ml-dsa-44/65/87 with absent parameters, empty
context string, raw public key and raw signature in the BIT STRINGs):
  * both certificates are well-formed DER (strict: definite minimal lengths, no trailing bytes);
  * subject's tbsCertificate.signature == subject's signatureAlgorithm (byte for byte);
  * that algorithm is an ML-DSA OID with no parameters, and the issuer's
    SubjectPublicKeyInfo has the same OID, no parameters, and a key of the right size;
  * subject's issuer Name bytes == issuer's subject Name bytes;
  * ML-DSA.Verify(pk, tbsCertificate DER, signature, ctx=b"") with dilithium-py
    (pure Python, shares no code with OpenSSL / aws-lc / RustCrypto).
With --cross, the signature is also checked with pyca/cryptography's ML-DSA
(its wheel bundles its own OpenSSL >= 3.5), and both must agree.

Prints "OK ML-DSA-65" and exits 0, or prints "FAIL: <reason>" and exits 1.
Usage errors exit 2.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
import tempfile

# ----------------------------------------------------------------- DER ----


class DerError(ValueError):
    pass


class TLV:
    __slots__ = ("tag", "data", "start", "hdr_end", "end")

    def __init__(self, tag: int, data: bytes, start: int, hdr_end: int, end: int):
        self.tag, self.data, self.start, self.hdr_end, self.end = tag, data, start, hdr_end, end

    @property
    def raw(self) -> bytes:
        """The whole TLV (tag, length and content) as it appears in the input."""
        return self.data[self.start : self.end]

    @property
    def content(self) -> bytes:
        return self.data[self.hdr_end : self.end]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list["TLV"]:
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is primitive, expected a constructed type")
        out, off = [], self.hdr_end
        while off < self.end:
            t = read_tlv(self.data, off, self.end)
            out.append(t)
            off = t.end
        return out


def read_tlv(data: bytes, off: int, limit: int) -> TLV:
    start = off
    if off >= limit:
        raise DerError(f"truncated: expected a tag at offset {off}")
    tag = data[off]
    off += 1
    if tag & 0x1F == 0x1F:
        raise DerError(f"high-tag-number form at offset {start} (not used in certificates)")
    if off >= limit:
        raise DerError(f"truncated: no length at offset {off}")
    first = data[off]
    off += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError(f"indefinite length at offset {off - 1} (BER, not DER)")
    else:
        n = first & 0x7F
        if n > 4:
            raise DerError(f"length of length {n} too large at offset {off - 1}")
        if off + n > limit:
            raise DerError(f"truncated length at offset {off}")
        length = int.from_bytes(data[off : off + n], "big")
        if data[off] == 0 or length < 0x80:
            raise DerError(f"non-minimal length encoding at offset {off - 1} (BER, not DER)")
        off += n
    end = off + length
    if end > limit:
        raise DerError(f"truncated: TLV at offset {start} claims {length} bytes, only {limit - off} left")
    return TLV(tag, data, start, off, end)


def parse_single(data: bytes, what: str) -> TLV:
    t = read_tlv(data, 0, len(data))
    if t.end != len(data):
        raise DerError(f"{what}: {len(data) - t.end} trailing bytes after the DER structure")
    return t


def expect(t: TLV, tag: int, what: str) -> TLV:
    if t.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, got 0x{t.tag:02x}")
    return t


def decode_oid(content: bytes) -> str:
    if not content:
        raise DerError("empty OBJECT IDENTIFIER")
    if content[-1] & 0x80:
        raise DerError("truncated OBJECT IDENTIFIER")
    arcs, val, fresh = [], 0, True
    for b in content:
        if fresh and b == 0x80:
            raise DerError("non-minimal OBJECT IDENTIFIER arc")
        val = (val << 7) | (b & 0x7F)
        fresh = not (b & 0x80)
        if fresh:
            arcs.append(val)
            val = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def bit_string_bytes(t: TLV, what: str) -> bytes:
    expect(t, 0x03, what)
    c = t.content
    if not c:
        raise DerError(f"{what}: empty BIT STRING")
    if c[0] != 0:
        raise DerError(f"{what}: BIT STRING has {c[0]} unused bits, expected 0")
    return c[1:]


# ------------------------------------------------------------- ML-DSA ----

# OID -> (name, dilithium_py attribute, public key size, signature size) per FIPS 204 / RFC 9881.
ML_DSA = {
    "2.16.840.1.101.3.4.3.17": ("ML-DSA-44", "ML_DSA_44", 1312, 2420),
    "2.16.840.1.101.3.4.3.18": ("ML-DSA-65", "ML_DSA_65", 1952, 3309),
    "2.16.840.1.101.3.4.3.19": ("ML-DSA-87", "ML_DSA_87", 2592, 4627),
}


def algorithm_identifier(t: TLV, what: str) -> str:
    """Return the OID of an AlgorithmIdentifier, which must be an ML-DSA one without parameters."""
    expect(t, 0x30, what)
    parts = t.children()
    if not parts:
        raise DerError(f"{what}: empty AlgorithmIdentifier")
    oid = decode_oid(expect(parts[0], 0x06, f"{what}.algorithm").content)
    if oid not in ML_DSA:
        raise VerifyError(f"{what}: algorithm {oid} is not ML-DSA (expected one of {', '.join(ML_DSA)})")
    if len(parts) != 1:
        kind = "NULL" if parts[1].tag == 0x05 else f"tag 0x{parts[1].tag:02x}"
        raise VerifyError(f"{what}: {ML_DSA[oid][0]} parameters must be absent, found {kind}")
    return oid


class VerifyError(Exception):
    pass


class Cert:
    """The parts of an X.509 certificate this tool needs, as raw DER."""

    def __init__(self, der: bytes, label: str):
        self.label = label
        cert = expect(parse_single(der, label), 0x30, f"{label}: Certificate")
        top = cert.children()
        if len(top) != 3:
            raise DerError(f"{label}: Certificate has {len(top)} elements, expected 3")
        self.tbs = expect(top[0], 0x30, f"{label}: tbsCertificate")
        self.outer_alg = expect(top[1], 0x30, f"{label}: signatureAlgorithm")
        self.sig_value = top[2]
        f = self.tbs.children()
        i = 0
        if f and f[0].tag == 0xA0:  # [0] EXPLICIT Version
            i += 1
        if len(f) < i + 6:
            raise DerError(f"{label}: tbsCertificate has too few fields")
        expect(f[i], 0x02, f"{label}: serialNumber")
        self.inner_alg = expect(f[i + 1], 0x30, f"{label}: tbsCertificate.signature")
        self.issuer = expect(f[i + 2], 0x30, f"{label}: issuer")
        expect(f[i + 3], 0x30, f"{label}: validity")
        self.subject = expect(f[i + 4], 0x30, f"{label}: subject")
        self.spki = expect(f[i + 5], 0x30, f"{label}: subjectPublicKeyInfo")
        for extra in f[i + 6 :]:
            if extra.tag not in (0x81, 0xA1, 0x82, 0xA2, 0xA3):
                raise DerError(f"{label}: unexpected tbsCertificate field with tag 0x{extra.tag:02x}")

    def public_key(self) -> tuple[str, bytes]:
        parts = self.spki.children()
        if len(parts) != 2:
            raise DerError(f"{self.label}: SubjectPublicKeyInfo has {len(parts)} elements, expected 2")
        oid = algorithm_identifier(parts[0], f"{self.label}: subjectPublicKeyInfo.algorithm")
        return oid, bit_string_bytes(parts[1], f"{self.label}: subjectPublicKey")


PEM_RE = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----", re.S)


def load_cert_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    if b"-----BEGIN" in data:
        m = PEM_RE.search(data)
        if not m:
            raise DerError(f"{path}: PEM file without a CERTIFICATE block")
        try:
            return base64.b64decode(b"".join(m.group(1).split()), validate=True)
        except binascii.Error as e:
            raise DerError(f"{path}: bad base64 in PEM: {e}") from None
    return data


def verify_certs(issuer_der: bytes, subject_der: bytes, cross: bool = False) -> str:
    """Return the algorithm name if subject is validly ML-DSA-signed by issuer, else raise."""
    issuer = Cert(issuer_der, "issuer")
    subject = Cert(subject_der, "subject")

    if subject.inner_alg.raw != subject.outer_alg.raw:
        raise VerifyError("subject: tbsCertificate.signature differs from signatureAlgorithm")
    sig_oid = algorithm_identifier(subject.outer_alg, "subject: signatureAlgorithm")
    name, attr, pk_len, sig_len = ML_DSA[sig_oid]

    pk_oid, pk = issuer.public_key()
    if pk_oid != sig_oid:
        raise VerifyError(f"issuer key is {ML_DSA[pk_oid][0]} but the subject is signed with {name}")
    if len(pk) != pk_len:
        raise VerifyError(f"issuer {name} public key is {len(pk)} bytes, expected {pk_len}")

    if subject.issuer.raw != issuer.subject.raw:
        raise VerifyError("subject's issuer Name does not equal the issuer's subject Name (byte comparison)")

    sig = bit_string_bytes(subject.sig_value, "subject: signatureValue")
    if len(sig) != sig_len:
        raise VerifyError(f"{name} signature is {len(sig)} bytes, expected {sig_len}")

    tbs = subject.tbs.raw
    from dilithium_py import ml_dsa  # imported late so --help works without it

    scheme = getattr(ml_dsa, attr)
    try:
        ok = scheme.verify(pk, tbs, sig, ctx=b"")
    except ValueError as e:  # malformed hint encoding etc.
        raise VerifyError(f"{name} signature is malformed: {e}") from None
    if not ok:
        raise VerifyError(f"{name} signature does not verify (dilithium-py)")

    if cross:
        cross_ok = cross_verify(attr, pk, tbs, sig)
        if not cross_ok:
            raise VerifyError(f"{name}: dilithium-py accepts but pyca/cryptography rejects the signature")
    return name


def cross_verify(attr: str, pk: bytes, tbs: bytes, sig: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError as e:
        raise VerifyError(f"--cross needs pyca/cryptography with ML-DSA support: {e}") from None
    cls = getattr(mldsa, "MLDSA" + attr[len("ML_DSA_") :] + "PublicKey")
    try:
        cls.from_public_bytes(pk).verify(sig, tbs)
        return True
    except InvalidSignature:
        return False


# ---------------------------------------------------------- self-test ----


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + content


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = [40 * arcs[0] + arcs[1]] + arcs[2:]
    out = b""
    for a in body:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, out)


def _name(cn: str) -> bytes:
    atv = _tlv(0x30, _oid("2.5.4.3") + _tlv(0x0C, cn.encode()))
    return _tlv(0x30, _tlv(0x31, atv))


def _build_cert(alg_oid, issuer_cn, subject_cn, subject_pk, sign, serial=0x1234, params=b"", spki_oid=None):
    alg = _tlv(0x30, _oid(alg_oid) + params)
    spki_alg = _tlv(0x30, _oid(spki_oid or alg_oid))
    spki = _tlv(0x30, spki_alg + _tlv(0x03, b"\x00" + subject_pk))
    validity = _tlv(0x30, _tlv(0x17, b"260101000000Z") + _tlv(0x17, b"360101000000Z"))
    tbs = _tlv(
        0x30,
        _tlv(0xA0, _tlv(0x02, b"\x02"))
        + _tlv(0x02, serial.to_bytes(4, "big"))
        + alg
        + _name(issuer_cn)
        + validity
        + _name(subject_cn)
        + spki,
    )
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + sign(tbs)))


def self_test() -> int:
    from dilithium_py import ml_dsa

    failures: list[str] = []
    count = 0

    def accept(label, issuer, subject, want, cross=False):
        nonlocal count
        count += 1
        try:
            got = verify_certs(issuer, subject, cross=cross)
            if got != want:
                failures.append(f"{label}: got {got}, expected {want}")
            else:
                print(f"  ok   accept  {label}")
        except (DerError, VerifyError) as e:
            failures.append(f"{label}: rejected a valid certificate: {e}")

    def reject(label, issuer, subject, needle, cross=False):
        nonlocal count
        count += 1
        try:
            verify_certs(issuer, subject, cross=cross)
            failures.append(f"{label}: accepted an invalid certificate")
        except (DerError, VerifyError) as e:
            if needle.lower() not in str(e).lower():
                failures.append(f"{label}: rejected, but for an unexpected reason: {e!r} (wanted {needle!r})")
            else:
                print(f"  ok   reject  {label}: {e}")
        except Exception as e:  # noqa: BLE001 - a crash is a test failure, not a rejection
            failures.append(f"{label}: crashed with {type(e).__name__}: {e}")

    def flip(der: bytes, at: int) -> bytes:
        b = bytearray(der)
        b[at] ^= 0x01
        return bytes(b)

    # 1. Certificates built here, signed by dilithium-py (checks the DER plumbing).
    for oid, (name, attr, _pkl, _sigl) in ML_DSA.items():
        scheme = getattr(ml_dsa, attr)
        ca_pk, ca_sk = scheme.keygen()
        leaf_pk, _ = scheme.keygen()
        other_pk, other_sk = scheme.keygen()

        def signer(sk, scheme=scheme):
            return lambda tbs: scheme.sign(sk, tbs)

        ca = _build_cert(oid, "Test CA", "Test CA", ca_pk, signer(ca_sk))
        leaf = _build_cert(oid, "Test CA", "leaf", leaf_pk, signer(ca_sk))
        accept(f"{name} self-signed CA", ca, ca, name)
        accept(f"{name} leaf", ca, leaf, name)
        if name == "ML-DSA-44":
            # Byte offsets: the serial's last content byte sits inside the tbs; the
            # signature's last byte is the certificate's last byte.
            tbs = Cert(leaf, "leaf").tbs
            serial_at = tbs.children()[1].end - 1
            reject(f"{name} flipped tbs byte", ca, flip(leaf, serial_at), "does not verify")
            reject(f"{name} flipped signature byte", ca, flip(leaf, len(leaf) - 1), "signature")
            mid_sig = len(leaf) - 1200
            reject(f"{name} flipped signature byte (z part)", ca, flip(leaf, mid_sig), "signature")
            impostor = _build_cert(oid, "Test CA", "Test CA", other_pk, signer(other_sk))
            reject(f"{name} same-name issuer, other key", impostor, leaf, "does not verify")
            reject(f"{name} wrong issuer name", leaf, leaf, "issuer name")
            with_null = _build_cert(oid, "Test CA", "leaf", leaf_pk, signer(ca_sk), params=b"\x05\x00")
            reject(f"{name} NULL parameters", ca, with_null, "parameters must be absent")
            reject(f"{name} truncated", ca, leaf[:-10], "truncated")
            reject(f"{name} trailing garbage", ca, leaf + b"\x00", "trailing")
            reject(f"{name} empty input", ca, b"", "truncated")
        if name == "ML-DSA-65":
            ca44_pk, ca44_sk = ml_dsa.ML_DSA_44.keygen()
            ca44 = _build_cert("2.16.840.1.101.3.4.3.17", "Test CA", "Test CA", ca44_pk,
                               lambda t: ml_dsa.ML_DSA_44.sign(ca44_sk, t))
            reject("ML-DSA-44 key, ML-DSA-65 signature", ca44, leaf, "issuer key is ML-DSA-44")
            ecdsa_like = _build_cert("1.2.840.10045.4.3.2", "Test CA", "leaf", leaf_pk, signer(ca_sk), spki_oid=oid)
            reject("ecdsa-with-SHA256 OID", ca, ecdsa_like, "is not ML-DSA")

    # 2. Certificates from an independent implementation (pyca/cryptography's
    #    bundled OpenSSL), if it has ML-DSA: real-world DER, a second signer.
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import mldsa
        from cryptography.x509.oid import NameOID
    except ImportError as e:
        print(f"  note: pyca/cryptography without ML-DSA ({e}); only self-built certificates tested")
    else:
        now = datetime.datetime.now(datetime.timezone.utc)

        def x509_cert(subject_cn, issuer_cn, pub, signing_key, ca):
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )
            if not ca:
                b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("bench.example.com")]), critical=False)
            return b.sign(signing_key, None)

        for bits in ("44", "65", "87"):
            cls = getattr(mldsa, f"MLDSA{bits}PrivateKey")
            ca_key, leaf_key = cls.generate(), cls.generate()
            ca = x509_cert("Crypto CA", "Crypto CA", ca_key.public_key(), ca_key, True)
            leaf = x509_cert("leaf", "Crypto CA", leaf_key.public_key(), ca_key, False)
            ca_der = ca.public_bytes(serialization.Encoding.DER)
            leaf_der = leaf.public_bytes(serialization.Encoding.DER)
            accept(f"ML-DSA-{bits} CA from pyca/cryptography", ca_der, ca_der, f"ML-DSA-{bits}", cross=True)
            accept(f"ML-DSA-{bits} leaf from pyca/cryptography", ca_der, leaf_der, f"ML-DSA-{bits}", cross=True)
            if bits == "65":
                tbs = Cert(leaf_der, "leaf").tbs
                at = tbs.children()[-1].end - 1  # last byte of the extensions (SAN value)
                reject("ML-DSA-65 pyca leaf, flipped extension byte", ca_der, flip(leaf_der, at), "does not verify")

                # PEM and DER files through the command-line path.
                with tempfile.TemporaryDirectory() as d:
                    ca_pem = os.path.join(d, "ca.pem")
                    leaf_der_path = os.path.join(d, "leaf.der")
                    bad_path = os.path.join(d, "bad.der")
                    with open(ca_pem, "wb") as fh:
                        fh.write(b"junk before\n" + ca.public_bytes(serialization.Encoding.PEM))
                    with open(leaf_der_path, "wb") as fh:
                        fh.write(leaf_der)
                    with open(bad_path, "wb") as fh:
                        fh.write(flip(leaf_der, at))
                    count += 2
                    rc = main([ca_pem, leaf_der_path], quiet=True)
                    if rc != 0:
                        failures.append(f"CLI PEM issuer + DER subject: exit {rc}, expected 0")
                    else:
                        print("  ok   accept  CLI PEM issuer + DER subject")
                    rc = main(["--cross", ca_pem, bad_path], quiet=True)
                    if rc != 1:
                        failures.append(f"CLI flipped byte: exit {rc}, expected 1")
                    else:
                        print("  ok   reject  CLI flipped byte: exit 1")

    if failures:
        for f in failures:
            print(f"  FAIL {f}")
        print(f"self-test: {count - len(failures)} passed, {len(failures)} failed")
        return 1
    print(f"self-test: {count} passed, 0 failed")
    return 0


# --------------------------------------------------------------- main ----


def main(argv: list[str], quiet: bool = False) -> int:
    if argv in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if argv == ["--self-test"]:
        return self_test()
    cross = False
    if argv and argv[0] == "--cross":
        cross, argv = True, argv[1:]
    if len(argv) != 2 or any(a.startswith("-") for a in argv):
        print("usage: mldsa_verify.py [--cross] ISSUER_CERT SUBJECT_CERT | --self-test", file=sys.stderr)
        return 2
    try:
        issuer = load_cert_bytes(argv[0])
        subject = load_cert_bytes(argv[1])
        alg = verify_certs(issuer, subject, cross=cross)
    except OSError as e:
        reason = f"cannot read {e.filename}: {e.strerror}"
    except (DerError, VerifyError) as e:
        reason = str(e)
    except ImportError as e:
        reason = f"dilithium-py is not installed ({e}); run scripts/install-peers"
    else:
        reason = ""
    if reason:
        if not quiet:
            print(f"FAIL: {reason}")
        return 1
    if not quiet:
        print(f"OK {alg}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
