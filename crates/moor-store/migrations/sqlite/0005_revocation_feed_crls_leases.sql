-- Several nodes, one database: the order of revocations (each node follows it to keep
-- its OCSP answers and CRLs current), the CRLs every node serves, and leases that let
-- one node at a time do a periodic job (CRL generation).

-- 1, 2, 3, … over every revocation of the database; NULL while the certificate is valid.
ALTER TABLE certificates ADD COLUMN revocation_seq BIGINT;
UPDATE certificates SET revocation_seq = id WHERE status = 'revoked';
CREATE UNIQUE INDEX certificates_revocation_seq ON certificates (revocation_seq)
    WHERE revocation_seq IS NOT NULL;

CREATE TABLE crls (
    issuer_id      TEXT   NOT NULL REFERENCES issuers (id),
    number         BIGINT NOT NULL,
    delta_base     BIGINT,                      -- NULL: a full CRL
    this_update    BIGINT NOT NULL,
    next_update    BIGINT NOT NULL,
    revocation_seq BIGINT NOT NULL,
    entries        BIGINT NOT NULL,
    der            BLOB   NOT NULL,
    PRIMARY KEY (issuer_id, number)
);

CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- What a CRL build reads, in the order it reads it, without touching the table rows.
CREATE INDEX certificates_revoked_by_issuer
    ON certificates (issuer_id, serial_hex, revoked_at, revocation_reason, revocation_seq, not_after)
    WHERE status = 'revoked';
