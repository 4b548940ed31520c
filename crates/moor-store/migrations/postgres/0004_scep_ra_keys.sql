-- SCEP registration-authority keys (RFC 8894 §2.1.1): clients encrypt their requests to
-- an RSA RA certificate issued by the CA. One key per issuer and period, made by the
-- first node that needs it and shared by all; the key is PKCS#8 encrypted under the CA
-- key passphrase.
CREATE TABLE scep_ra_keys (
    issuer_id  TEXT   NOT NULL,
    period     BIGINT NOT NULL,
    key_pem    TEXT   NOT NULL,
    cert_der   BYTEA  NOT NULL,
    serial_hex TEXT   NOT NULL,
    not_after  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer_id, period)
);
