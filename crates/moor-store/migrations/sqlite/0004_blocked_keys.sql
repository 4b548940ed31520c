-- Public keys that may never be certified again (revoked for keyCompromise).
CREATE TABLE blocked_keys (
    spki_sha256   TEXT   NOT NULL PRIMARY KEY,   -- SHA-256 of the SubjectPublicKeyInfo, hex
    reason        TEXT   NOT NULL,
    source_serial TEXT   NOT NULL,               -- the certificate whose revocation blocked it
    blocked_at    BIGINT NOT NULL
);
