-- Mooring SQLite schema, version 1.
--
-- Conventions (shared with the PostgreSQL set in ../postgres/):
--   * times are BIGINT unix seconds (UTC);
--   * no BOOLEAN columns (sqlx's Any driver cannot decode SQLite booleans);
--   * hashes and serials are lower-case hex TEXT, DER is BLOB;
--   * lists are JSON arrays in TEXT, with an index table where they are searched.
--
-- This file is embedded in the binary and checksummed by the migrator:
-- never edit it once released; add 0002_*.sql instead.

CREATE TABLE issuers (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,            -- root | intermediate
    algorithm   TEXT    NOT NULL,
    cert_der    BLOB    NOT NULL,
    parent_id   TEXT             REFERENCES issuers (id),
    key_ref     TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,            -- SHA-256 of cert_der, hex
    created_at  BIGINT  NOT NULL
);

CREATE TABLE certificates (
    -- AUTOINCREMENT: ids are never reused, so `id > cursor` pagination is stable.
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    serial_hex        TEXT    NOT NULL,
    issuer_id         TEXT    NOT NULL REFERENCES issuers (id),
    profile           TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    sans              TEXT    NOT NULL DEFAULT '[]',   -- JSON array of tagged SANs (dns:..., ip:...)
    not_before        BIGINT  NOT NULL,
    not_after         BIGINT  NOT NULL,
    requester         TEXT    NOT NULL,
    key_algorithm     TEXT    NOT NULL,
    fingerprint       TEXT    NOT NULL,                -- SHA-256 of der, hex
    spki_sha256       TEXT    NOT NULL,                -- SHA-256 of the SubjectPublicKeyInfo, hex
    der               BLOB    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    created_at        BIGINT  NOT NULL,
    -- Serials are 128-bit CSPRNG values and get_certificate looks up by serial
    -- alone, so they are unique across issuers (which implies per issuer).
    CONSTRAINT certificates_serial_unique UNIQUE (serial_hex)
);

-- Each of these is implicitly (column, id), so a filter on it pages in id order.
CREATE INDEX certificates_issuer    ON certificates (issuer_id);
CREATE INDEX certificates_profile   ON certificates (profile);
CREATE INDEX certificates_status    ON certificates (status);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_spki      ON certificates (spki_sha256);

-- One row per SAN of a certificate, for the SAN filter: `san` is the tagged form
-- (dns:example.com), `value` the bare one (example.com).
CREATE TABLE certificate_sans (
    san            TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    certificate_id INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    PRIMARY KEY (san, certificate_id)
) WITHOUT ROWID;

CREATE INDEX certificate_sans_value       ON certificate_sans (value, certificate_id);
CREATE INDEX certificate_sans_certificate ON certificate_sans (certificate_id);

-- certificate_sans is derived from certificates.sans in the same statement that
-- inserts the certificate (so it can never disagree with it, and a failed
-- insert leaves no SAN rows). SANs are never updated after issuance.
CREATE TRIGGER certificates_index_sans AFTER INSERT ON certificates
BEGIN
    INSERT OR IGNORE INTO certificate_sans (san, value, certificate_id)
    SELECT j.value,
           CASE WHEN instr(j.value, ':') > 0 THEN substr(j.value, instr(j.value, ':') + 1) ELSE j.value END,
           NEW.id
    FROM json_each(NEW.sans) AS j;
END;

-- Hash-chained audit log (see src/audit.rs). `seq` is assigned by the writer as
-- last + 1, read inside the same BEGIN IMMEDIATE transaction as the insert.
CREATE TABLE audit_log (
    seq       INTEGER NOT NULL PRIMARY KEY,
    ts        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);

CREATE TABLE admin_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    secret_sha256 BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT
);
