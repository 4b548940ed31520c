-- Fewer index writes per issued certificate (each index entry is a WAL page write
-- at commit time, and random keys dirty a new page each):
-- * status has two values and almost every row is 'valid': only the revoked rows
--   are worth an index, and a partial index holds just those.
-- * certificate_sans(value) duplicated certificate_sans(san): a bare-name filter is
--   answered by looking the four tagged forms up in the primary key instead.
DROP INDEX IF EXISTS certificates_status;
CREATE INDEX certificates_revoked ON certificates (id) WHERE status = 'revoked';
DROP INDEX IF EXISTS certificate_sans_value;
