-- Mooring PostgreSQL schema, version 1: the same tables as the SQLite set
-- (../sqlite/0001..0005) with PostgreSQL types. Conventions shared with it:
--   * times are BIGINT unix seconds (UTC);
--   * hashes and serials are lower-case hex TEXT, DER is BYTEA;
--   * lists are JSON arrays in TEXT, with an index table where they are searched.
--
-- Several nodes write to one database. Every write transaction of the store first
-- takes one transaction-level advisory lock (see src/postgres/writer.rs), so the
-- audit chain, the certificate ids and the revocation order are assigned one
-- transaction at a time, across all nodes.
--
-- Embedded in the binary and checksummed by the migrator: never edit once released.

CREATE TABLE issuers (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    algorithm   TEXT    NOT NULL,
    cert_der    BYTEA   NOT NULL,
    parent_id   TEXT             REFERENCES issuers (id),
    key_ref     TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    -- Insertion order, for listing (SQLite uses its rowid).
    ord         BIGSERIAL NOT NULL
);

CREATE TABLE certificates (
    id                BIGSERIAL PRIMARY KEY,
    serial_hex        TEXT    NOT NULL,
    issuer_id         TEXT    NOT NULL REFERENCES issuers (id),
    profile           TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    sans              TEXT    NOT NULL DEFAULT '[]',
    not_before        BIGINT  NOT NULL,
    not_after         BIGINT  NOT NULL,
    requester         TEXT    NOT NULL,
    key_algorithm     TEXT    NOT NULL,
    fingerprint       TEXT    NOT NULL,
    spki_sha256       TEXT    NOT NULL,
    der               BYTEA   NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    created_at        BIGINT  NOT NULL,
    revocation_seq    BIGINT,
    CONSTRAINT certificates_serial_unique UNIQUE (serial_hex)
);

CREATE INDEX certificates_issuer    ON certificates (issuer_id, id);
CREATE INDEX certificates_profile   ON certificates (profile, id);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_spki      ON certificates (spki_sha256);
CREATE INDEX certificates_revoked   ON certificates (issuer_id, serial_hex) WHERE status = 'revoked';
CREATE UNIQUE INDEX certificates_revocation_seq ON certificates (revocation_seq)
    WHERE revocation_seq IS NOT NULL;

CREATE TABLE certificate_sans (
    san            TEXT   NOT NULL,
    certificate_id BIGINT NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    PRIMARY KEY (san, certificate_id)
);
CREATE INDEX certificate_sans_certificate ON certificate_sans (certificate_id);

CREATE TABLE blocked_keys (
    spki_sha256   TEXT   NOT NULL PRIMARY KEY,
    reason        TEXT   NOT NULL,
    source_serial TEXT   NOT NULL,
    blocked_at    BIGINT NOT NULL
);

-- certificate_sans is derived from certificates.sans in the statement that inserts
-- the certificate; a blocked key is refused by the database itself, whichever node
-- blocked it.
CREATE FUNCTION mooring_certificates_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM blocked_keys WHERE spki_sha256 = NEW.spki_sha256) THEN
        RAISE EXCEPTION 'mooring: blocked key' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION mooring_certificates_index_sans() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_sans (san, certificate_id)
    SELECT DISTINCT j, NEW.id FROM jsonb_array_elements_text(NEW.sans::jsonb) AS j
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER certificates_refuse_blocked_keys BEFORE INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION mooring_certificates_before_insert();
CREATE TRIGGER certificates_index_sans AFTER INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION mooring_certificates_index_sans();

CREATE TABLE audit_log (
    seq       BIGINT NOT NULL PRIMARY KEY,
    ts        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    detail    TEXT   NOT NULL,
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL
);

CREATE TABLE admin_tokens (
    id            TEXT   NOT NULL PRIMARY KEY,
    secret_sha256 BYTEA  NOT NULL,
    name          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE crl_numbers (
    issuer_id   TEXT   NOT NULL PRIMARY KEY REFERENCES issuers (id),
    last_number BIGINT NOT NULL
);

CREATE TABLE crls (
    issuer_id      TEXT   NOT NULL REFERENCES issuers (id),
    number         BIGINT NOT NULL,
    delta_base     BIGINT,
    this_update    BIGINT NOT NULL,
    next_update    BIGINT NOT NULL,
    revocation_seq BIGINT NOT NULL,
    entries        BIGINT NOT NULL,
    der            BYTEA  NOT NULL,
    PRIMARY KEY (issuer_id, number)
);

CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
