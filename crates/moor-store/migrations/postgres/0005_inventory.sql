-- PostgreSQL twin of ../sqlite/0009_inventory.sql.
--
-- The inventory: every certificate and key this deployment knows of, issued here or
-- discovered by a scan, with where it was seen, who owns it and its labels.
--
-- Certificates issued here enter by trigger in the statement that records them (so the
-- two tables never disagree); revocation and renewal follow by trigger too. Discovered
-- ones enter through reports (src/inventory.rs). Status (active, expiring, expired,
-- revoked, superseded) is computed from the columns at query time, never stored.

CREATE TABLE inventory (
    -- AUTOINCREMENT: ids are never reused, so cursor pagination is stable.
    id                  BIGSERIAL PRIMARY KEY,
    -- x509: SHA-256 of the DER; ssh-key / ssh-cert: SHA-256 of the blob. Hex.
    fingerprint         TEXT    NOT NULL,
    kind                TEXT    NOT NULL,                 -- x509 | ssh-key | ssh-cert
    source              TEXT    NOT NULL,                 -- issued | acme | enrollment | renewal | oidc | internal | discovered
    subject             TEXT    NOT NULL,
    -- Our issuer id for what we issued, the issuer DN (or SSH CA fingerprint) otherwise.
    issuer              TEXT    NOT NULL,
    issuer_id           TEXT,
    serial_hex          TEXT    NOT NULL,
    sans                TEXT    NOT NULL DEFAULT '[]',     -- JSON array, tagged (dns:…) / principals
    key_algorithm       TEXT    NOT NULL,
    signature_algorithm TEXT    NOT NULL,
    spki_sha256         TEXT    NOT NULL,
    not_before          BIGINT  NOT NULL,
    not_after           BIGINT  NOT NULL,
    chain_position      TEXT    NOT NULL,                 -- leaf | intermediate | root
    self_signed         BIGINT NOT NULL DEFAULT 0,
    revoked_at          BIGINT,
    superseded_by       TEXT,                             -- serial of the successor
    owner               TEXT,
    team                TEXT,
    labels              TEXT    NOT NULL DEFAULT '{}',     -- JSON object, indexed in inventory_labels
    first_seen          BIGINT,                           -- at any location
    last_seen           BIGINT,
    created_at          BIGINT  NOT NULL,
    der                 BYTEA,                             -- discovered only (issued: certificates.der)
    CONSTRAINT inventory_fingerprint_unique UNIQUE (fingerprint)
);

CREATE INDEX inventory_not_after ON inventory (not_after, id);
CREATE INDEX inventory_serial    ON inventory (serial_hex);
CREATE INDEX inventory_spki      ON inventory (spki_sha256);
CREATE INDEX inventory_issuer    ON inventory (issuer, id);
CREATE INDEX inventory_owner     ON inventory (owner, id) WHERE owner IS NOT NULL;
CREATE INDEX inventory_team      ON inventory (team, id) WHERE team IS NOT NULL;
-- Findings and status filters (measured at 10 M rows, docs/benchmarks.md): the CA
-- certificates by subject (unknown-issuer: > 120 s without, 1 ms with), revoked and
-- superseded items in id order, and unrevoked ones by expiry (the overview's timeline).
CREATE INDEX inventory_ca_subject ON inventory (subject) WHERE chain_position <> 'leaf';
CREATE INDEX inventory_revoked    ON inventory (id) WHERE revoked_at IS NOT NULL;
CREATE INDEX inventory_superseded ON inventory (id) WHERE superseded_by IS NOT NULL;
CREATE INDEX inventory_live_not_after ON inventory (not_after) WHERE revoked_at IS NULL;

-- SAN search: the bare value (example.com, 10.0.0.1, a principal), lower case.
CREATE TABLE inventory_sans (
    value        TEXT    NOT NULL,
    inventory_id BIGINT NOT NULL REFERENCES inventory (id) ON DELETE CASCADE,
    PRIMARY KEY (value, inventory_id)
);

CREATE FUNCTION inventory_index_sans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inventory_sans (value, inventory_id)
    SELECT lower(CASE WHEN strpos(j.value, ':') > 0 AND NEW.kind = 'x509'
                      THEN substr(j.value, strpos(j.value, ':') + 1) ELSE j.value END),
           NEW.id
    FROM json_array_elements_text(NEW.sans::json) AS j(value)
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER inventory_index_sans AFTER INSERT ON inventory
    FOR EACH ROW EXECUTE FUNCTION inventory_index_sans();

CREATE TABLE inventory_labels (
    name         TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    inventory_id BIGINT NOT NULL REFERENCES inventory (id) ON DELETE CASCADE,
    PRIMARY KEY (name, value, inventory_id)
);
CREATE INDEX inventory_labels_item ON inventory_labels (inventory_id);

-- Where an item was seen. `endpoint` is `host:port` (IPv6 `[addr]:port`) for TLS, the
-- absolute path for a file; `host` is the scanned host for files, the address for TLS.
CREATE TABLE inventory_locations (
    id           BIGSERIAL PRIMARY KEY,
    inventory_id BIGINT NOT NULL REFERENCES inventory (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,                        -- tls | file
    host         TEXT    NOT NULL,
    endpoint     TEXT    NOT NULL,
    sni          TEXT    NOT NULL DEFAULT '',
    first_seen   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL,
    gone_at      BIGINT,                                  -- a later scan no longer found it
    seen_mark    BIGINT  NOT NULL DEFAULT 0,              -- the report that last saw it
    CONSTRAINT inventory_locations_unique UNIQUE (kind, host, endpoint, sni, inventory_id)
);
CREATE INDEX inventory_locations_item     ON inventory_locations (inventory_id);
CREATE INDEX inventory_locations_endpoint ON inventory_locations (endpoint, inventory_id);

-- Private-key files found by file scans: that one exists and its permissions, never
-- its content.
CREATE TABLE inventory_key_files (
    host          TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    key_type      TEXT    NOT NULL,
    mode          BIGINT  NOT NULL,
    uid           BIGINT  NOT NULL,
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    gone_at       BIGINT,
    seen_mark     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (host, path)
);

-- Issued certificates enter the inventory with them.
CREATE FUNCTION certificates_into_inventory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inventory (fingerprint, kind, source, subject, issuer, issuer_id, serial_hex,
                           sans, key_algorithm, signature_algorithm, spki_sha256, not_before,
                           not_after, chain_position, self_signed, created_at)
    VALUES (NEW.fingerprint, 'x509',
            CASE WHEN NEW.requester LIKE 'acme:%' THEN 'acme'
                 WHEN NEW.requester LIKE 'bootstrap:%' THEN 'enrollment'
                 WHEN NEW.requester LIKE 'renew:%' THEN 'renewal'
                 WHEN NEW.requester LIKE 'oidc:%' THEN 'oidc'
                 WHEN NEW.requester LIKE 'system:%' THEN 'internal'
                 ELSE 'issued' END,
            NEW.subject, NEW.issuer_id, NEW.issuer_id, NEW.serial_hex, NEW.sans,
            NEW.key_algorithm,
            COALESCE((SELECT CASE WHEN i.algorithm = 'ecdsa-p256' THEN 'ecdsa-with-SHA256'
                                  WHEN i.algorithm = 'ecdsa-p384' THEN 'ecdsa-with-SHA384'
                                  WHEN i.algorithm LIKE 'rsa%' THEN 'sha256WithRSAEncryption'
                                  ELSE i.algorithm END
                      FROM issuers i WHERE i.id = NEW.issuer_id), ''),
            NEW.spki_sha256, NEW.not_before, NEW.not_after, 'leaf', 0, NEW.created_at)
    ON CONFLICT (fingerprint) DO UPDATE SET
        source = excluded.source, issuer = excluded.issuer, issuer_id = excluded.issuer_id;
    RETURN NEW;
END $$;
CREATE TRIGGER certificates_into_inventory AFTER INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificates_into_inventory();

CREATE FUNCTION certificates_revoked_in_inventory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'revoked' THEN
        UPDATE inventory SET revoked_at = NEW.revoked_at WHERE fingerprint = NEW.fingerprint;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER certificates_revoked_in_inventory AFTER UPDATE OF status ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificates_revoked_in_inventory();

CREATE FUNCTION renewals_supersede_in_inventory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE inventory SET superseded_by = NEW.serial_hex
    WHERE fingerprint = (SELECT fingerprint FROM certificates WHERE serial_hex = NEW.predecessor_serial);
    RETURN NEW;
END $$;
CREATE TRIGGER renewals_supersede_in_inventory AFTER INSERT ON certificate_renewals
    FOR EACH ROW EXECUTE FUNCTION renewals_supersede_in_inventory();

-- What was issued before this version.
INSERT INTO inventory (fingerprint, kind, source, subject, issuer, issuer_id, serial_hex, sans,
                       key_algorithm, signature_algorithm, spki_sha256, not_before, not_after,
                       chain_position, self_signed, revoked_at, created_at)
SELECT c.fingerprint, 'x509',
       CASE WHEN c.requester LIKE 'acme:%' THEN 'acme'
            WHEN c.requester LIKE 'bootstrap:%' THEN 'enrollment'
            WHEN c.requester LIKE 'renew:%' THEN 'renewal'
            WHEN c.requester LIKE 'oidc:%' THEN 'oidc'
            WHEN c.requester LIKE 'system:%' THEN 'internal'
            ELSE 'issued' END,
       c.subject, c.issuer_id, c.issuer_id, c.serial_hex, c.sans, c.key_algorithm,
       COALESCE((SELECT CASE WHEN i.algorithm = 'ecdsa-p256' THEN 'ecdsa-with-SHA256'
                             WHEN i.algorithm = 'ecdsa-p384' THEN 'ecdsa-with-SHA384'
                             WHEN i.algorithm LIKE 'rsa%' THEN 'sha256WithRSAEncryption'
                             ELSE i.algorithm END
                 FROM issuers i WHERE i.id = c.issuer_id), ''),
       c.spki_sha256, c.not_before, c.not_after, 'leaf', 0, c.revoked_at, c.created_at
FROM certificates c ORDER BY c.id;

UPDATE inventory SET superseded_by = (
    SELECT r.serial_hex FROM certificate_renewals r WHERE r.predecessor_serial = inventory.serial_hex)
WHERE serial_hex IN (SELECT predecessor_serial FROM certificate_renewals);

-- Alert rules fire once per (rule, finding, item); deliveries are retried and recorded.
CREATE TABLE alerts (
    id          BIGSERIAL PRIMARY KEY,
    rule        TEXT    NOT NULL,
    finding     TEXT    NOT NULL,
    subject_key TEXT    NOT NULL,                         -- the item's fingerprint or key-file path
    payload     TEXT    NOT NULL,                         -- the JSON delivered
    created_at  BIGINT  NOT NULL,
    CONSTRAINT alerts_once UNIQUE (rule, finding, subject_key)
);

CREATE TABLE alert_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    alert_id      BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    target        TEXT    NOT NULL,                       -- webhook URL or `log`
    attempts      BIGINT  NOT NULL DEFAULT 0,
    next_attempt  BIGINT  NOT NULL,
    delivered_at  BIGINT,
    failed_at     BIGINT,                                 -- gave up
    last_error    TEXT
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_attempt) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- The audit trail of one certificate (the dashboard's detail page).
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
