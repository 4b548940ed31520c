-- The last CRL number issued per issuer (RFC 5280 §5.2.3: monotonically increasing).
CREATE TABLE crl_numbers (
    issuer_id   TEXT   NOT NULL PRIMARY KEY REFERENCES issuers (id),
    last_number BIGINT NOT NULL
);
