# Independent ACME JWS producer for the moor-core cross-check test (acme/mod.rs):
# pyca/cryptography keys and signatures, RFC 7638 thumbprints, EAB HMAC (stdlib).
# Usage: python pyca_jws.py URL ACCOUNT_URL  -> JSON list on stdout.
import base64, hashlib, hmac, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def uint(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

URL = sys.argv[1]
ACCOUNT = sys.argv[2]
keys = [
    ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ("ES384", ec.generate_private_key(ec.SECP384R1())),
    ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=3072)),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
]
out = []
for alg, k in keys:
    pub = k.public_key()
    if alg.startswith("ES"):
        size = pub.curve.key_size // 8 + (1 if pub.curve.key_size % 8 else 0)
        nums = pub.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256" if alg == "ES256" else "P-384",
               "x": b64(nums.x.to_bytes(size, "big")), "y": b64(nums.y.to_bytes(size, "big"))}
    elif alg == "RS256":
        nums = pub.public_numbers()
        jwk = {"kty": "RSA", "n": uint(nums.n), "e": uint(nums.e)}
    else:
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}

    def sign(msg):
        if alg == "ES256" or alg == "ES384":
            h = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
            r, s = decode_dss_signature(k.sign(msg, ec.ECDSA(h)))
            n = 32 if alg == "ES256" else 48
            return r.to_bytes(n, "big") + s.to_bytes(n, "big")
        if alg == "RS256":
            return k.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        return k.sign(msg)

    def jws(header, payload):
        p = b64(json.dumps(header).encode())
        pl = b64(payload) if payload is not None else ""
        sig = sign((p + "." + pl).encode())
        return {"protected": p, "payload": pl, "signature": b64(sig)}

    canonical = json.dumps({m: jwk[m] for m in sorted(jwk)}, separators=(",", ":"), sort_keys=True)
    thumb = b64(hashlib.sha256(canonical.encode()).digest())
    token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    keyauthz = token + "." + thumb
    mac_key = b"python EAB MAC key"
    eab_p = b64(json.dumps({"alg": "HS256", "kid": "py-kid", "url": URL}).encode())
    eab_pl = b64(json.dumps(jwk).encode())
    eab = {"protected": eab_p, "payload": eab_pl,
           "signature": b64(hmac.new(mac_key, (eab_p + "." + eab_pl).encode(), hashlib.sha256).digest())}
    out.append({
        "alg": alg,
        "jwk": jwk,
        "spki": b64(pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "thumbprint": thumb,
        "token": token,
        "key_authorization": keyauthz,
        "dns01": b64(hashlib.sha256(keyauthz.encode()).digest()),
        "jwk_body": jws({"alg": alg, "jwk": jwk, "nonce": "cHl0aG9uLW5vbmNl", "url": URL},
                        json.dumps({"termsOfServiceAgreed": True, "externalAccountBinding": eab}).encode()),
        "kid_body": jws({"alg": alg, "kid": ACCOUNT, "nonce": "cHl0aG9uLW5vbmNl", "url": URL}, None),
        "eab_mac_key": b64(mac_key),
    })
print(json.dumps(out))
