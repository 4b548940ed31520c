-- ACME rate limits, ARI `replaces`, admin renewal windows (RFC 9773), cross-signed issuer
-- certificates for alternate chains, stateless nonces, and bootstrap tokens.
--
-- Rate limits count rows already stored (orders of an account, certificates naming an
-- identifier) in a sliding window, so every node enforces the same limit.
--
-- The same schema is in ../postgres/0003_acme_limits_renewal.sql.

-- Orders of an account in a window (orders_per_account).
CREATE INDEX acme_orders_account_created ON acme_orders (account_id, created_at);
-- The order that replaces a certificate (RFC 9773 §5: alreadyReplaced).
CREATE INDEX acme_orders_replaces ON acme_orders (replaces) WHERE replaces IS NOT NULL;
-- Certificates naming an identifier in a window (certificates_per_identifier).
CREATE INDEX certificates_created ON certificates (created_at);

-- An admin's "renew now" for a set of certificates: every certificate created at or
-- before created_at that matches every non-NULL selector gets this ARI window instead
-- of its own (newest override wins).
CREATE TABLE renewal_overrides (
    id           TEXT   NOT NULL PRIMARY KEY,
    issuer_id    TEXT,                 -- NULL: any issuer
    profile      TEXT,                 -- NULL: any profile
    serial_hex   TEXT,                 -- NULL: any certificate
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    reason       TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX renewal_overrides_created ON renewal_overrides (created_at);

-- A certificate for an issuer's name and key signed by another root (a cross-sign): the
-- issuer's certificates then also chain to that root. ACME offers each as an alternate
-- chain (RFC 8555 §7.4.2, Link rel="alternate").
CREATE TABLE issuer_cross_certificates (
    id         TEXT   NOT NULL PRIMARY KEY,
    issuer_id  TEXT   NOT NULL REFERENCES issuers (id),  -- whose name and key it certifies
    signed_by  TEXT   NOT NULL REFERENCES issuers (id),  -- the root that signed it
    der        BLOB  NOT NULL,
    not_after  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX issuer_cross_certificates_issuer ON issuer_cross_certificates (issuer_id, created_at);

-- Nonces are stateless (an HMAC over their issue time under a key every node shares);
-- only redeemed ones are remembered, until they expire, so each is accepted once.
DROP TABLE acme_nonces;
CREATE TABLE acme_used_nonces (
    value      TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX acme_used_nonces_expiry ON acme_used_nonces (expires_at);

-- Keys the ACME server makes for itself on first use (the nonce HMAC key). Not CA keys:
-- knowing one lets a client mint nonces, each still accepted only once.
CREATE TABLE acme_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      BLOB   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Bootstrap tokens: limited-use enrollment secrets for machines with no identity yet.
-- Only SHA-256 of the secret is kept; a use is `uses = uses + 1 WHERE uses < max_uses …`.
CREATE TABLE bootstrap_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,   -- public id, btk…
    secret_sha256 BLOB    NOT NULL,
    profile       TEXT    NOT NULL,
    names         TEXT    NOT NULL,               -- JSON array of names or patterns
    max_uses      BIGINT  NOT NULL CHECK (max_uses > 0),
    uses          BIGINT  NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at    BIGINT  NOT NULL,
    owner         TEXT,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX bootstrap_tokens_created ON bootstrap_tokens (created_at);

-- A certificate renewed by proof of its predecessor (POST /api/v1/renew): the link.
CREATE TABLE certificate_renewals (
    serial_hex         TEXT   NOT NULL PRIMARY KEY,  -- the successor
    predecessor_serial TEXT   NOT NULL,
    renewed_at         BIGINT NOT NULL
);
CREATE INDEX certificate_renewals_predecessor ON certificate_renewals (predecessor_serial);
