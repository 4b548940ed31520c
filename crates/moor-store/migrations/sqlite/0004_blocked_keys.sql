-- Public keys that may never be certified again (revoked for keyCompromise).
CREATE TABLE blocked_keys (
    spki_sha256   TEXT   NOT NULL PRIMARY KEY,   -- SHA-256 of the SubjectPublicKeyInfo, hex
    reason        TEXT   NOT NULL,
    source_serial TEXT   NOT NULL,               -- the certificate whose revocation blocked it
    blocked_at    BIGINT NOT NULL
);

-- The store itself refuses a certificate for a blocked key, atomically with the insert,
-- whichever process blocked it.
CREATE TRIGGER certificates_refuse_blocked_keys BEFORE INSERT ON certificates
WHEN EXISTS (SELECT 1 FROM blocked_keys WHERE spki_sha256 = NEW.spki_sha256)
BEGIN
    SELECT RAISE(ABORT, 'mooring: blocked key');
END;
