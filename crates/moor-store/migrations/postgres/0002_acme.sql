-- ACME server state (RFC 8555), PostgreSQL version of ../sqlite/0006_acme.sql (same
-- tables; BYTEA for BLOB, BOOLEAN for the wildcard flag): accounts, external account
-- binding credentials, nonces, orders, authorizations and challenges. Everything an ACME
-- request needs is here, so any node can answer the next step of an order another began.
--
-- Conventions (as in 0001): times are BIGINT unix seconds (UTC); lists and documents
-- are JSON in TEXT; ids are random URL-safe strings chosen by the caller.
--
-- State changes are compare-and-set UPDATEs (`… WHERE status = 'pending'`), so two
-- nodes racing on one step do it once. Every change except nonces goes through the
-- audited writer (under its advisory lock) and appends its audit entry in the same
-- transaction. Nonces are not audited: issue = INSERT, consume = DELETE … RETURNING
-- (true once, across nodes).
--
-- Embedded in the binary and checksummed by the migrator: never edit once released.

-- Admin-issued external account binding credentials (RFC 8555 §7.3.4). A credential
-- binds at most one account: binding is atomic with the account's creation.
CREATE TABLE acme_eab (
    kid           TEXT   NOT NULL PRIMARY KEY,
    mac_key       BYTEA  NOT NULL,            -- HMAC key (secret: never in the audit log)
    directory     TEXT,                       -- the profile it is valid for; NULL: any
    created_at    BIGINT NOT NULL,
    bound_account TEXT,                       -- the account it created; NULL while unused
    bound_at      BIGINT
);

CREATE TABLE acme_accounts (
    id             TEXT   NOT NULL PRIMARY KEY,
    key_thumbprint TEXT   NOT NULL UNIQUE,     -- RFC 7638 thumbprint of the account key
    jwk            TEXT   NOT NULL,            -- the key, canonical JSON
    status         TEXT   NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contacts       TEXT   NOT NULL DEFAULT '[]', -- JSON array of URLs
    directory      TEXT   NOT NULL,            -- the profile whose directory created it
    eab_kid        TEXT   UNIQUE REFERENCES acme_eab (kid),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Replay protection shared by every node. Purged once expired.
CREATE TABLE acme_nonces (
    value      TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expiry ON acme_nonces (expires_at);

CREATE TABLE acme_orders (
    -- Byte order, as in SQLite: an account's orders are paged by id.
    id                 TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    account_id         TEXT   NOT NULL REFERENCES acme_accounts (id),
    directory          TEXT   NOT NULL,
    status             TEXT   NOT NULL
        CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    identifiers        TEXT   NOT NULL,        -- JSON [{"type":…,"value":…}]
    not_before         BIGINT,
    not_after          BIGINT,
    expires_at         BIGINT NOT NULL,
    error              TEXT,                   -- RFC 8555 §6.7 problem document, JSON
    certificate_serial TEXT,                   -- set when valid (certificates.serial_hex)
    replaces           TEXT,                   -- ARI (RFC 9773) certificate id it replaces
    profile            TEXT,                   -- ACME profiles extension
    csr                BYTEA,                  -- the finalize CSR (DER), kept from processing on
    processing_since   BIGINT,                 -- when finalization began (another node may
                                               -- take over after a timeout)
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, id);

CREATE TABLE acme_authorizations (
    id               TEXT    NOT NULL PRIMARY KEY,
    account_id       TEXT    NOT NULL REFERENCES acme_accounts (id),
    identifier_type  TEXT    NOT NULL,         -- dns, ip
    identifier_value TEXT    NOT NULL,
    wildcard         BOOLEAN NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires_at       BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- Reuse of a valid authorization for the same account and identifier.
CREATE INDEX acme_authorizations_reuse
    ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires_at);

-- Which authorizations an order needs, in the order of its identifiers. An authorization
-- may serve several orders (reuse).
CREATE TABLE acme_order_authorizations (
    order_id TEXT    NOT NULL REFERENCES acme_orders (id),
    authz_id TEXT    NOT NULL REFERENCES acme_authorizations (id),
    position BIGINT  NOT NULL,
    PRIMARY KEY (order_id, authz_id)
);
CREATE INDEX acme_order_authorizations_authz ON acme_order_authorizations (authz_id);

CREATE TABLE acme_challenges (
    id               TEXT   NOT NULL PRIMARY KEY,
    authz_id         TEXT   NOT NULL REFERENCES acme_authorizations (id),
    type             TEXT   NOT NULL,          -- http-01, dns-01, tls-alpn-01
    token            TEXT   NOT NULL UNIQUE,
    status           TEXT   NOT NULL
        CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated_at     BIGINT,
    error            TEXT,                     -- problem document, JSON
    records          TEXT,                     -- validation records, JSON
    processing_since BIGINT,                   -- when validation began (another node may
                                               -- take over after a timeout)
    position         BIGINT NOT NULL           -- its place among its authorization's challenges
);
CREATE INDEX acme_challenges_authz ON acme_challenges (authz_id, position);
