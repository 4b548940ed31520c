//! ACME server state (RFC 8555): accounts, external account binding (EAB) credentials,
//! nonces, orders, authorizations and challenges.
//!
//! Nothing of an ACME exchange lives only in a node's memory: every step is a row here,
//! so a node can die mid-order and another node (or the same one restarted) continues.
//! Every state change except a nonce goes through the backend's audited writer (an
//! [`crate::write_job::Op::Acme`] job) and appends its audit entry in the same
//! transaction; a refused change (`Conflict`, `NotFound`, a lost race) writes neither row
//! nor audit entry. Nonces are not audited and skip the writer.
//!
//! Transitions are compare-and-set, so nodes racing on one step do it once:
//! [`AcmeStore::begin_validation`] moves a challenge `pending → processing` and
//! [`AcmeStore::begin_finalize`] an order `ready → processing` for exactly one caller.
//! A step left `processing` for [`PROCESSING_TAKEOVER_SECS`] (its node died) may be
//! begun again by another node; the `finish_*` call that comes first wins, a later one
//! gets [`StoreError::Conflict`].
//!
//! Both backends share one set of SQL statements (`$N` placeholders work on SQLite and
//! PostgreSQL), expanded for each by [`acme_backend!`] in `sqlite/acme.rs` and
//! `postgres/acme.rs`. Schema: `migrations/sqlite/0006_acme.sql`,
//! `migrations/postgres/0002_acme.sql`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{NewAuditEntry, StoreError};

/// After this many seconds in `processing`, a challenge validation or an order
/// finalization is taken to be abandoned (its node died) and may be begun again.
pub const PROCESSING_TAKEOVER_SECS: i64 = 120;

/// An ACME account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAccount {
    /// Random URL-safe id (the account URL ends with it).
    pub id: String,
    /// RFC 7638 thumbprint of the account key (unique across accounts).
    pub key_thumbprint: String,
    /// The account key, canonical JSON.
    pub jwk: String,
    /// `valid`, `deactivated` or `revoked`.
    pub status: String,
    /// Contact URLs (`mailto:…`).
    pub contacts: Vec<String>,
    /// The profile whose directory created it.
    pub directory: String,
    /// The EAB credential it was created with; binding it is part of creating the account.
    pub eab_kid: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An external account binding credential (RFC 8555 §7.3.4), created by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeEab {
    pub kid: String,
    /// The HMAC key. A secret: never put it in an audit entry.
    #[serde(skip)]
    pub mac_key: Vec<u8>,
    /// The profile (directory) it is valid for; `None`: any.
    pub directory: Option<String>,
    pub created_at: i64,
    /// The account it created (set by [`AcmeStore::create_account`], once).
    pub bound_account: Option<String>,
    pub bound_at: Option<i64>,
}

/// An identifier of an order or authorization (`dns`, `ip`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeIdentifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// An admin's "renew now" (RFC 9773 windows moved for a set of certificates): every
/// certificate created at or before `created_at` that matches every selector that is set
/// gets this window instead of its own. The newest matching override wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalOverride {
    /// Random id.
    pub id: String,
    /// Only certificates of this issuer (`None`: any).
    pub issuer_id: Option<String>,
    /// Only certificates of this profile (`None`: any).
    pub profile: Option<String>,
    /// Only this certificate (`None`: any).
    pub serial_hex: Option<String>,
    /// The suggested window (unix seconds).
    pub window_start: i64,
    pub window_end: i64,
    /// Why (shown as the ARI `explanationURL`'s text in the audit log).
    pub reason: String,
    /// When it was made; it applies to certificates created until then.
    pub created_at: i64,
}

/// A cross-signed certificate of an issuer: its name and key, signed by another root. The
/// issuer's certificates also chain through it (an ACME alternate chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossCertificate {
    /// Random id.
    pub id: String,
    /// The issuer whose name and key it certifies.
    pub issuer_id: String,
    /// The root that signed it.
    pub signed_by: String,
    pub der: Vec<u8>,
    pub not_after: i64,
    pub created_at: i64,
}

/// An ACME order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeOrder {
    pub id: String,
    pub account_id: String,
    /// The profile whose directory it was placed in.
    pub directory: String,
    /// `pending`, `ready`, `processing`, `valid` or `invalid`.
    pub status: String,
    pub identifiers: Vec<AcmeIdentifier>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub expires_at: i64,
    /// RFC 8555 §6.7 problem document (JSON) of an invalid order.
    pub error: Option<String>,
    /// The certificate issued for it (`certificates.serial_hex`).
    pub certificate_serial: Option<String>,
    /// ARI (RFC 9773): the certificate id this order replaces.
    pub replaces: Option<String>,
    /// ACME profiles extension: the profile asked for.
    pub profile: Option<String>,
    /// The CSR (DER) given to finalize, kept so another node can finish it.
    #[serde(skip)]
    pub csr: Option<Vec<u8>>,
    /// When finalization began (status `processing`).
    pub processing_since: Option<i64>,
    /// Ids of the authorizations it needs, in order.
    pub authorizations: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An authorization with its challenges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAuthorization {
    pub id: String,
    pub account_id: String,
    pub identifier: AcmeIdentifier,
    pub wildcard: bool,
    /// `pending`, `valid`, `invalid`, `deactivated`, `expired` or `revoked`.
    pub status: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Its challenges, in the order they were created.
    pub challenges: Vec<AcmeChallenge>,
}

/// A challenge of an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeChallenge {
    pub id: String,
    /// The authorization it belongs to (set by the store from its authorization on create).
    pub authz_id: String,
    /// `http-01`, `dns-01`, `tls-alpn-01`.
    pub kind: String,
    /// Unique across all challenges.
    pub token: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: String,
    pub validated_at: Option<i64>,
    /// Problem document (JSON) of a failed validation.
    pub error: Option<String>,
    /// Validation records (JSON).
    pub records: Option<String>,
    /// When validation began (status `processing`).
    pub processing_since: Option<i64>,
}

/// ACME state of a deployment; reached through [`crate::Store::acme`].
#[async_trait]
pub trait AcmeStore: Send + Sync {
    // ---- nonces (not audited; shared by every node) ----

    /// The deployment's nonce key: 32 random bytes made by the first caller, the same for
    /// every node and every later call.
    async fn nonce_key(&self) -> Result<Vec<u8>, StoreError>;

    /// Redeem a nonce (whose authenticity the caller checked): true exactly once per
    /// value, whichever node asks; it is remembered until `expires_at`.
    async fn redeem_nonce(&self, value: &str, expires_at: i64) -> Result<bool, StoreError>;

    /// Forget redeemed nonces expired at `now`; how many.
    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError>;

    // ---- accounts ----

    /// Create an account (and, when `account.eab_kid` is set, bind that EAB credential
    /// to it in the same transaction). [`StoreError::Conflict`] if the id or the key is
    /// taken or the credential is already bound; [`StoreError::NotFound`] if the
    /// credential does not exist or is for another directory. A refusal writes nothing.
    async fn create_account(
        &self,
        account: &AcmeAccount,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    async fn account(&self, id: &str) -> Result<Option<AcmeAccount>, StoreError>;

    async fn account_by_thumbprint(
        &self,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccount>, StoreError>;

    /// Replace the contacts of a valid account. NotFound; Conflict if it is not valid.
    async fn update_account_contacts(
        &self,
        id: &str,
        contacts: &[String],
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// `valid → deactivated`. NotFound; Conflict if it is not valid.
    async fn deactivate_account(
        &self,
        id: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Key rollover. Conflict if another account has the new key or the account is not
    /// valid; NotFound.
    async fn change_account_key(
        &self,
        id: &str,
        new_thumbprint: &str,
        new_jwk: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    // ---- external account binding ----

    /// Store a new EAB credential (unbound). Conflict if the kid exists.
    async fn create_eab(&self, eab: &AcmeEab, audit: NewAuditEntry) -> Result<(), StoreError>;

    async fn eab(&self, kid: &str) -> Result<Option<AcmeEab>, StoreError>;

    // ---- orders, authorizations, challenges ----

    /// Create an order together with its new authorizations and their challenges, in one
    /// transaction. `order.authorizations` lists every authorization the order needs: the
    /// `new_authorizations` and any reused ones (which must exist: NotFound). Conflict if
    /// an id or a challenge token is taken; NotFound if the account does not exist.
    /// Create an order and its new authorizations. An order that `replaces` a certificate
    /// (RFC 9773 §5) is a Conflict when another order that is not `invalid` already
    /// replaces it (checked in the same write transaction, so across nodes too).
    async fn create_order(
        &self,
        order: &AcmeOrder,
        new_authorizations: &[AcmeAuthorization],
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Rate limit of orders per account: when `account_id` created at least `n` orders at
    /// or after `since`, the creation time of the `n`-th newest (the window has room again
    /// once it leaves the window); `None` while there is room.
    async fn nth_newest_order_since(
        &self,
        account_id: &str,
        since: i64,
        n: u32,
    ) -> Result<Option<i64>, StoreError>;

    /// The same over certificates naming `san` (tagged: `dns:example.com`, `ip:192.0.2.1`),
    /// whoever requested them.
    async fn nth_newest_certificate_naming_since(
        &self,
        san: &str,
        since: i64,
        n: u32,
    ) -> Result<Option<i64>, StoreError>;

    /// Record a cross-signed certificate of an issuer (audited). NotFound if either issuer
    /// does not exist.
    async fn add_cross_certificate(
        &self,
        cross: &CrossCertificate,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// The cross-signed certificates of `issuer_id` unexpired at `now`, oldest first.
    async fn cross_certificates(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<CrossCertificate>, StoreError>;

    /// Record a renewal override (audited).
    async fn add_renewal_override(
        &self,
        override_: &RenewalOverride,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// The newest override that applies to a certificate of `issuer_id` and `profile`
    /// with `serial_hex`, created at `created_at`.
    async fn renewal_override_for(
        &self,
        issuer_id: &str,
        profile: &str,
        serial_hex: &str,
        created_at: i64,
    ) -> Result<Option<RenewalOverride>, StoreError>;

    async fn order(&self, id: &str) -> Result<Option<AcmeOrder>, StoreError>;

    /// Ids of the account's orders in id order, after the cursor `after`, at most `limit`.
    async fn orders_of_account(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// An authorization with its challenges.
    async fn authorization(&self, id: &str) -> Result<Option<AcmeAuthorization>, StoreError>;

    /// The authorizations of an order (with challenges), in the order's order.
    async fn authorizations_of_order(
        &self,
        order_id: &str,
    ) -> Result<Vec<AcmeAuthorization>, StoreError>;

    async fn challenge(&self, id: &str) -> Result<Option<AcmeChallenge>, StoreError>;

    /// A valid authorization of `account_id` for the identifier, unexpired at `now` and
    /// validated at or after `validated_since` (the one that lasts longest), to reuse in a
    /// new order.
    async fn reusable_authorization(
        &self,
        account_id: &str,
        identifier: &AcmeIdentifier,
        wildcard: bool,
        now: i64,
        validated_since: i64,
    ) -> Result<Option<AcmeAuthorization>, StoreError>;

    // ---- transitions (compare-and-set) ----

    /// `pending → processing` for a challenge whose authorization is pending and
    /// unexpired (or take over a validation begun [`PROCESSING_TAKEOVER_SECS`] ago).
    /// True for the one caller that should validate; false (nothing written) for the
    /// others. NotFound if the challenge does not exist.
    async fn begin_validation(
        &self,
        challenge_id: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// End a validation: the challenge becomes `valid` (`valid_until` is `Some`: the
    /// authorization then expires at that time) or `invalid` (with `error` and `records`),
    /// its pending authorization the same, and every pending order of that authorization
    /// `ready` (all its authorizations valid) or `invalid` (with `error`). Conflict if the
    /// challenge is not `processing`; NotFound.
    async fn finish_validation(
        &self,
        challenge_id: &str,
        valid_until: Option<i64>,
        error: Option<&str>,
        records: Option<&str>,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// `pending | valid → deactivated`; the pending and ready orders that need it become
    /// invalid. Conflict in any other state; NotFound.
    async fn deactivate_authorization(
        &self,
        id: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// `ready → processing` for an order, keeping its CSR (or take over a finalization
    /// begun [`PROCESSING_TAKEOVER_SECS`] ago). True for the one caller that should issue;
    /// false (nothing written) otherwise. NotFound if the order does not exist.
    async fn begin_finalize(
        &self,
        order_id: &str,
        csr_der: &[u8],
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// End a finalization: `Ok(serial)` → `valid` with that certificate, `Err(problem)` →
    /// `invalid` with that problem document. Conflict if the order is not `processing`.
    async fn finish_order(
        &self,
        order_id: &str,
        outcome: Result<&str, &str>,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;
}

/// An audited ACME write, as the writer receives it ([`crate::write_job::Op::Acme`]).
pub(crate) enum AcmeWrite {
    CreateAccount {
        account: AcmeAccount,
        audit: NewAuditEntry,
    },
    UpdateContacts {
        id: String,
        contacts: Vec<String>,
        now: i64,
        audit: NewAuditEntry,
    },
    DeactivateAccount {
        id: String,
        now: i64,
        audit: NewAuditEntry,
    },
    ChangeKey {
        id: String,
        thumbprint: String,
        jwk: String,
        now: i64,
        audit: NewAuditEntry,
    },
    CreateEab {
        eab: AcmeEab,
        audit: NewAuditEntry,
    },
    CreateOrder {
        order: AcmeOrder,
        authorizations: Vec<AcmeAuthorization>,
        audit: NewAuditEntry,
    },
    BeginValidation {
        challenge_id: String,
        now: i64,
        audit: NewAuditEntry,
    },
    FinishValidation {
        challenge_id: String,
        valid_until: Option<i64>,
        error: Option<String>,
        records: Option<String>,
        now: i64,
        audit: NewAuditEntry,
    },
    DeactivateAuthorization {
        id: String,
        now: i64,
        audit: NewAuditEntry,
    },
    BeginFinalize {
        order_id: String,
        csr: Vec<u8>,
        now: i64,
        audit: NewAuditEntry,
    },
    FinishOrder {
        order_id: String,
        outcome: Result<String, String>,
        now: i64,
        audit: NewAuditEntry,
    },
    AddRenewalOverride {
        override_: RenewalOverride,
        audit: NewAuditEntry,
    },
    AddCrossCertificate {
        cross: CrossCertificate,
        audit: NewAuditEntry,
    },
    /// Not audited: a nonce redeemed (SQLite sends it through the writer so that only
    /// one connection ever writes).
    RedeemNonce {
        value: String,
        expires_at: i64,
    },
}

impl AcmeWrite {
    /// The audit entry appended when the write changes something (none for a nonce).
    pub(crate) fn audit(&self) -> Option<&NewAuditEntry> {
        Some(match self {
            AcmeWrite::RedeemNonce { .. } => return None,
            AcmeWrite::CreateAccount { audit, .. }
            | AcmeWrite::UpdateContacts { audit, .. }
            | AcmeWrite::DeactivateAccount { audit, .. }
            | AcmeWrite::ChangeKey { audit, .. }
            | AcmeWrite::CreateEab { audit, .. }
            | AcmeWrite::CreateOrder { audit, .. }
            | AcmeWrite::BeginValidation { audit, .. }
            | AcmeWrite::FinishValidation { audit, .. }
            | AcmeWrite::DeactivateAuthorization { audit, .. }
            | AcmeWrite::BeginFinalize { audit, .. }
            | AcmeWrite::FinishOrder { audit, .. }
            | AcmeWrite::AddRenewalOverride { audit, .. }
            | AcmeWrite::AddCrossCertificate { audit, .. } => audit,
        })
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} does not encode: {e}")))
}

pub(crate) fn from_json<T: for<'de> Deserialize<'de>>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what} is not valid JSON: {e}")))
}

pub(crate) fn db_kind(e: &sqlx::Error) -> Option<sqlx::error::ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// `e` as Conflict (unique key) or NotFound (foreign key) of `what`, else as it is.
pub(crate) fn refusal(e: sqlx::Error, conflict: &str, missing: &str) -> StoreError {
    match db_kind(&e) {
        Some(sqlx::error::ErrorKind::UniqueViolation) => StoreError::Conflict {
            what: conflict.to_owned(),
        },
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => StoreError::NotFound {
            what: missing.to_owned(),
        },
        _ => e.into(),
    }
}

/// The ACME statements and the [`AcmeStore`] implementation of one backend.
///
/// `acme_backend!(Store, Db, reader: field, side: field)` expands, in the module it is
/// invoked in (a child of the backend's module), to:
/// - `pub(crate) async fn apply(conn, write) -> Result<(Done, bool), StoreError>`: run one
///   [`AcmeWrite`] inside the writer's savepoint; the bool says whether it changed
///   anything (then the writer appends its audit entry; else it appends nothing);
/// - `impl AcmeStore for Store`, reading from the pool `self.reader`, writing nonces
///   through the pool `self.side`, and every other write through `self.write(Op)`.
macro_rules! acme_backend {
    ($store:ty, $db:ty, reader: $reader:ident, side: $side:ident) => {
        use async_trait::async_trait;
        use sqlx::Row;

        use $crate::StoreError;
        use $crate::acme::{
            AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeEab, AcmeIdentifier, AcmeOrder,
            AcmeStore, AcmeWrite, CrossCertificate, PROCESSING_TAKEOVER_SECS, RenewalOverride,
            from_json, refusal, to_json,
        };
        use $crate::write_job::{Done, Op};
        use $crate::NewAuditEntry;

        type Conn = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;

        const ACCOUNT_COLUMNS: &str = "id, key_thumbprint, jwk, status, contacts, directory, eab_kid, created_at, updated_at";
        const ORDER_COLUMNS: &str = "id, account_id, directory, status, identifiers, not_before, not_after, expires_at, \
             error, certificate_serial, replaces, profile, csr, processing_since, created_at, updated_at";
        const AUTHZ_COLUMNS: &str = "id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, \
             created_at, updated_at";
        const CHALLENGE_COLUMNS: &str =
            "id, authz_id, type, token, status, validated_at, error, records, processing_since";

        fn account_from_row(r: &DbRow) -> Result<AcmeAccount, StoreError> {
            let contacts: String = r.try_get("contacts")?;
            Ok(AcmeAccount {
                id: r.try_get("id")?,
                key_thumbprint: r.try_get("key_thumbprint")?,
                jwk: r.try_get("jwk")?,
                status: r.try_get("status")?,
                contacts: from_json(&contacts, "acme_accounts.contacts")?,
                directory: r.try_get("directory")?,
                eab_kid: r.try_get("eab_kid")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn order_from_row(r: &DbRow, authorizations: Vec<String>) -> Result<AcmeOrder, StoreError> {
            let identifiers: String = r.try_get("identifiers")?;
            Ok(AcmeOrder {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                directory: r.try_get("directory")?,
                status: r.try_get("status")?,
                identifiers: from_json(&identifiers, "acme_orders.identifiers")?,
                not_before: r.try_get("not_before")?,
                not_after: r.try_get("not_after")?,
                expires_at: r.try_get("expires_at")?,
                error: r.try_get("error")?,
                certificate_serial: r.try_get("certificate_serial")?,
                replaces: r.try_get("replaces")?,
                profile: r.try_get("profile")?,
                csr: r.try_get("csr")?,
                processing_since: r.try_get("processing_since")?,
                authorizations,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn authz_from_row(
            r: &DbRow,
            challenges: Vec<AcmeChallenge>,
        ) -> Result<AcmeAuthorization, StoreError> {
            Ok(AcmeAuthorization {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                identifier: AcmeIdentifier {
                    kind: r.try_get("identifier_type")?,
                    value: r.try_get("identifier_value")?,
                },
                wildcard: r.try_get("wildcard")?,
                status: r.try_get("status")?,
                expires_at: r.try_get("expires_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                challenges,
            })
        }

        fn challenge_from_row(r: &DbRow) -> Result<AcmeChallenge, StoreError> {
            Ok(AcmeChallenge {
                id: r.try_get("id")?,
                authz_id: r.try_get("authz_id")?,
                kind: r.try_get("type")?,
                token: r.try_get("token")?,
                status: r.try_get("status")?,
                validated_at: r.try_get("validated_at")?,
                error: r.try_get("error")?,
                records: r.try_get("records")?,
                processing_since: r.try_get("processing_since")?,
            })
        }

        /// The status of row `id` of `table`, read inside the write transaction (to tell
        /// NotFound from Conflict after a compare-and-set changed nothing).
        async fn status_of(
            conn: &mut Conn,
            table: &'static str,
            id: &str,
        ) -> Result<Option<String>, StoreError> {
            Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT status FROM {table} WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?)
        }

        /// NotFound if row `id` of `table` is missing, else Conflict naming its status.
        async fn not_in_state(
            conn: &mut Conn,
            table: &'static str,
            what: &str,
            id: &str,
            expected: &str,
        ) -> StoreError {
            match status_of(conn, table, id).await {
                Ok(None) => StoreError::NotFound {
                    what: format!("{what} {id}"),
                },
                Ok(Some(status)) => StoreError::Conflict {
                    what: format!("{what} {id} is {status}, not {expected}"),
                },
                Err(e) => e,
            }
        }

        /// Run one audited ACME write inside the writer's savepoint. The bool: whether it
        /// changed anything (and so is audited).
        pub(crate) async fn apply(
            conn: &mut Conn,
            write: &AcmeWrite,
        ) -> Result<(Done, bool), StoreError> {
            match write {
                AcmeWrite::CreateAccount { account, .. } => {
                    create_account(conn, account).await?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::UpdateContacts { id, contacts, now, .. } => {
                    let contacts = to_json(contacts, "contacts")?;
                    let changed = sqlx::query(
                        "UPDATE acme_accounts SET contacts = $2, updated_at = $3 \
                         WHERE id = $1 AND status = 'valid'",
                    )
                    .bind(id)
                    .bind(contacts)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(not_in_state(conn, "acme_accounts", "ACME account", id, "valid").await);
                    }
                    Ok((Done::Unit, true))
                }
                AcmeWrite::DeactivateAccount { id, now, .. } => {
                    let changed = sqlx::query(
                        "UPDATE acme_accounts SET status = 'deactivated', updated_at = $2 \
                         WHERE id = $1 AND status = 'valid'",
                    )
                    .bind(id)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(not_in_state(conn, "acme_accounts", "ACME account", id, "valid").await);
                    }
                    Ok((Done::Unit, true))
                }
                AcmeWrite::ChangeKey { id, thumbprint, jwk, now, .. } => {
                    let holder: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM acme_accounts WHERE key_thumbprint = $1",
                    )
                    .bind(thumbprint)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if holder.is_some_and(|h| h != *id) {
                        return Err(StoreError::Conflict {
                            what: format!("ACME account key {thumbprint}"),
                        });
                    }
                    let changed = sqlx::query(
                        "UPDATE acme_accounts SET key_thumbprint = $2, jwk = $3, updated_at = $4 \
                         WHERE id = $1 AND status = 'valid'",
                    )
                    .bind(id)
                    .bind(thumbprint)
                    .bind(jwk)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| refusal(e, &format!("ACME account key {thumbprint}"), "ACME account"))?
                    .rows_affected();
                    if changed == 0 {
                        return Err(not_in_state(conn, "acme_accounts", "ACME account", id, "valid").await);
                    }
                    Ok((Done::Unit, true))
                }
                AcmeWrite::CreateEab { eab, .. } => {
                    sqlx::query(
                        "INSERT INTO acme_eab (kid, mac_key, directory, created_at, bound_account, bound_at) \
                         VALUES ($1, $2, $3, $4, NULL, NULL)",
                    )
                    .bind(&eab.kid)
                    .bind(&eab.mac_key)
                    .bind(&eab.directory)
                    .bind(eab.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| refusal(e, &format!("EAB key id {}", eab.kid), "EAB"))?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::CreateOrder { order, authorizations, .. } => {
                    if let Some(replaces) = &order.replaces {
                        let taken: Option<String> = sqlx::query_scalar(
                            "SELECT id FROM acme_orders WHERE replaces = $1 AND status <> 'invalid' LIMIT 1",
                        )
                        .bind(replaces)
                        .fetch_optional(&mut *conn)
                        .await?;
                        if let Some(other) = taken {
                            return Err(StoreError::Conflict {
                                what: format!("order {other} replacing certificate {replaces}"),
                            });
                        }
                    }
                    create_order(conn, order, authorizations).await?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::RedeemNonce { value, expires_at } => {
                    let n = redeem_nonce(conn, value, *expires_at).await?;
                    Ok((Done::Number(n as i64), false))
                }
                AcmeWrite::AddCrossCertificate { cross: c, .. } => {
                    sqlx::query(
                        "INSERT INTO issuer_cross_certificates (id, issuer_id, signed_by, der, not_after, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&c.id)
                    .bind(&c.issuer_id)
                    .bind(&c.signed_by)
                    .bind(&c.der)
                    .bind(c.not_after)
                    .bind(c.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        refusal(
                            e,
                            &format!("cross certificate {}", c.id),
                            &format!("issuer {} or {}", c.issuer_id, c.signed_by),
                        )
                    })?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::AddRenewalOverride { override_: o, .. } => {
                    sqlx::query(
                        "INSERT INTO renewal_overrides (id, issuer_id, profile, serial_hex, window_start, \
                         window_end, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&o.id)
                    .bind(&o.issuer_id)
                    .bind(&o.profile)
                    .bind(&o.serial_hex)
                    .bind(o.window_start)
                    .bind(o.window_end)
                    .bind(&o.reason)
                    .bind(o.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| refusal(e, &format!("renewal override {}", o.id), "issuer"))?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::BeginValidation { challenge_id, now, .. } => {
                    let won: Option<String> = sqlx::query_scalar(
                        "UPDATE acme_challenges SET status = 'processing', processing_since = $2 \
                         WHERE id = $1 \
                         AND (status = 'pending' OR (status = 'processing' AND processing_since <= $3)) \
                         AND authz_id IN (SELECT id FROM acme_authorizations \
                                          WHERE status = 'pending' AND expires_at > $2) \
                         RETURNING id",
                    )
                    .bind(challenge_id)
                    .bind(*now)
                    .bind(now.saturating_sub(PROCESSING_TAKEOVER_SECS))
                    .fetch_optional(&mut *conn)
                    .await?;
                    if won.is_some() {
                        return Ok((Done::Number(1), true));
                    }
                    if status_of(conn, "acme_challenges", challenge_id).await?.is_none() {
                        return Err(StoreError::NotFound {
                            what: format!("ACME challenge {challenge_id}"),
                        });
                    }
                    Ok((Done::Number(0), false))
                }
                AcmeWrite::FinishValidation { challenge_id, valid_until, error, records, now, .. } => {
                    let valid = valid_until.is_some();
                    let status = if valid { "valid" } else { "invalid" };
                    let validated_at = valid.then_some(*now);
                    let authz: Option<String> = sqlx::query_scalar(
                        "UPDATE acme_challenges SET status = $2, validated_at = $3, error = $4, records = $5 \
                         WHERE id = $1 AND status = 'processing' RETURNING authz_id",
                    )
                    .bind(challenge_id)
                    .bind(status)
                    .bind(validated_at)
                    .bind(error)
                    .bind(records)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(authz) = authz else {
                        return Err(not_in_state(conn, "acme_challenges", "ACME challenge", challenge_id, "processing").await);
                    };
                    let changed = sqlx::query(
                        "UPDATE acme_authorizations SET status = $2, updated_at = $3, \
                         expires_at = COALESCE($4, expires_at) \
                         WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(&authz)
                    .bind(status)
                    .bind(*now)
                    .bind(*valid_until)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed > 0 {
                        if valid {
                            sqlx::query(
                                "UPDATE acme_orders SET status = 'ready', updated_at = $2 \
                                 WHERE status = 'pending' \
                                 AND id IN (SELECT order_id FROM acme_order_authorizations WHERE authz_id = $1) \
                                 AND NOT EXISTS (SELECT 1 FROM acme_order_authorizations oa \
                                     JOIN acme_authorizations a ON a.id = oa.authz_id \
                                     WHERE oa.order_id = acme_orders.id AND a.status <> 'valid')",
                            )
                            .bind(&authz)
                            .bind(*now)
                            .execute(&mut *conn)
                            .await?;
                        } else {
                            sqlx::query(
                                "UPDATE acme_orders SET status = 'invalid', error = $3, updated_at = $2 \
                                 WHERE status = 'pending' \
                                 AND id IN (SELECT order_id FROM acme_order_authorizations WHERE authz_id = $1)",
                            )
                            .bind(&authz)
                            .bind(*now)
                            .bind(error)
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                    Ok((Done::Unit, true))
                }
                AcmeWrite::DeactivateAuthorization { id, now, .. } => {
                    let changed = sqlx::query(
                        "UPDATE acme_authorizations SET status = 'deactivated', updated_at = $2 \
                         WHERE id = $1 AND status IN ('pending', 'valid')",
                    )
                    .bind(id)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(not_in_state(
                            conn,
                            "acme_authorizations",
                            "ACME authorization",
                            id,
                            "pending or valid",
                        )
                        .await);
                    }
                    sqlx::query(
                        "UPDATE acme_orders SET status = 'invalid', updated_at = $2 \
                         WHERE status IN ('pending', 'ready') \
                         AND id IN (SELECT order_id FROM acme_order_authorizations WHERE authz_id = $1)",
                    )
                    .bind(id)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?;
                    Ok((Done::Unit, true))
                }
                AcmeWrite::BeginFinalize { order_id, csr, now, .. } => {
                    let won: Option<String> = sqlx::query_scalar(
                        "UPDATE acme_orders SET status = 'processing', csr = $2, processing_since = $3, \
                         updated_at = $3 WHERE id = $1 \
                         AND (status = 'ready' OR (status = 'processing' AND processing_since <= $4)) \
                         RETURNING id",
                    )
                    .bind(order_id)
                    .bind(csr)
                    .bind(*now)
                    .bind(now.saturating_sub(PROCESSING_TAKEOVER_SECS))
                    .fetch_optional(&mut *conn)
                    .await?;
                    if won.is_some() {
                        return Ok((Done::Number(1), true));
                    }
                    if status_of(conn, "acme_orders", order_id).await?.is_none() {
                        return Err(StoreError::NotFound {
                            what: format!("ACME order {order_id}"),
                        });
                    }
                    Ok((Done::Number(0), false))
                }
                AcmeWrite::FinishOrder { order_id, outcome, now, .. } => {
                    let (status, serial, error) = match outcome {
                        Ok(serial) => ("valid", Some(serial.as_str()), None),
                        Err(problem) => ("invalid", None, Some(problem.as_str())),
                    };
                    let changed = sqlx::query(
                        "UPDATE acme_orders SET status = $2, certificate_serial = $3, error = $4, \
                         updated_at = $5 WHERE id = $1 AND status = 'processing'",
                    )
                    .bind(order_id)
                    .bind(status)
                    .bind(serial)
                    .bind(error)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(not_in_state(conn, "acme_orders", "ACME order", order_id, "processing").await);
                    }
                    Ok((Done::Unit, true))
                }
            }
        }

        async fn create_account(conn: &mut Conn, account: &AcmeAccount) -> Result<(), StoreError> {
            let holder: Option<String> =
                sqlx::query_scalar("SELECT id FROM acme_accounts WHERE key_thumbprint = $1")
                    .bind(&account.key_thumbprint)
                    .fetch_optional(&mut *conn)
                    .await?;
            if holder.is_some() {
                return Err(StoreError::Conflict {
                    what: format!("ACME account key {}", account.key_thumbprint),
                });
            }
            if let Some(kid) = &account.eab_kid {
                let row = sqlx::query("SELECT directory, bound_account FROM acme_eab WHERE kid = $1")
                    .bind(kid)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound {
                        what: format!("EAB key id {kid}"),
                    });
                };
                let directory: Option<String> = row.try_get("directory")?;
                let bound: Option<String> = row.try_get("bound_account")?;
                if bound.is_some() {
                    return Err(StoreError::Conflict {
                        what: format!("binding of EAB key id {kid} (already used)"),
                    });
                }
                if directory.is_some_and(|d| d != account.directory) {
                    return Err(StoreError::NotFound {
                        what: format!("EAB key id {kid} for directory {}", account.directory),
                    });
                }
            }
            sqlx::query(
                "INSERT INTO acme_accounts (id, key_thumbprint, jwk, status, contacts, directory, eab_kid, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&account.id)
            .bind(&account.key_thumbprint)
            .bind(&account.jwk)
            .bind(&account.status)
            .bind(to_json(&account.contacts, "contacts")?)
            .bind(&account.directory)
            .bind(&account.eab_kid)
            .bind(account.created_at)
            .bind(account.updated_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                refusal(
                    e,
                    &format!("ACME account {} (id, key or EAB binding)", account.id),
                    "EAB key id",
                )
            })?;
            if let Some(kid) = &account.eab_kid {
                let bound = sqlx::query(
                    "UPDATE acme_eab SET bound_account = $2, bound_at = $3 \
                     WHERE kid = $1 AND bound_account IS NULL",
                )
                .bind(kid)
                .bind(&account.id)
                .bind(account.created_at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if bound != 1 {
                    return Err(StoreError::Conflict {
                        what: format!("binding of EAB key id {kid} (already used)"),
                    });
                }
            }
            Ok(())
        }

        /// Remember a redeemed nonce; 1 if it was new, 0 if it was redeemed before.
        pub(crate) async fn redeem_nonce(
            conn: &mut Conn,
            value: &str,
            expires_at: i64,
        ) -> Result<u64, StoreError> {
            Ok(sqlx::query(
                "INSERT INTO acme_used_nonces (value, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (value) DO NOTHING",
            )
            .bind(value)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?
            .rows_affected())
        }

        async fn create_order(
            conn: &mut Conn,
            order: &AcmeOrder,
            authorizations: &[AcmeAuthorization],
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO acme_orders (id, account_id, directory, status, identifiers, not_before, \
                 not_after, expires_at, error, certificate_serial, replaces, profile, csr, \
                 processing_since, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&order.id)
            .bind(&order.account_id)
            .bind(&order.directory)
            .bind(&order.status)
            .bind(to_json(&order.identifiers, "identifiers")?)
            .bind(order.not_before)
            .bind(order.not_after)
            .bind(order.expires_at)
            .bind(&order.error)
            .bind(&order.certificate_serial)
            .bind(&order.replaces)
            .bind(&order.profile)
            .bind(&order.csr)
            .bind(order.processing_since)
            .bind(order.created_at)
            .bind(order.updated_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                refusal(
                    e,
                    &format!("ACME order {}", order.id),
                    &format!("ACME account {}", order.account_id),
                )
            })?;
            for authz in authorizations {
                sqlx::query(
                    "INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, \
                     wildcard, status, expires_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&authz.id)
                .bind(&authz.account_id)
                .bind(&authz.identifier.kind)
                .bind(&authz.identifier.value)
                .bind(authz.wildcard)
                .bind(&authz.status)
                .bind(authz.expires_at)
                .bind(authz.created_at)
                .bind(authz.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| {
                    refusal(
                        e,
                        &format!("ACME authorization {}", authz.id),
                        &format!("ACME account {}", authz.account_id),
                    )
                })?;
                for (position, ch) in authz.challenges.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO acme_challenges (id, authz_id, type, token, status, validated_at, \
                         error, records, processing_since, position) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&ch.id)
                    .bind(&authz.id)
                    .bind(&ch.kind)
                    .bind(&ch.token)
                    .bind(&ch.status)
                    .bind(ch.validated_at)
                    .bind(&ch.error)
                    .bind(&ch.records)
                    .bind(ch.processing_since)
                    .bind(position as i64)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        refusal(
                            e,
                            &format!("ACME challenge {} (id or token)", ch.id),
                            &format!("ACME authorization {}", authz.id),
                        )
                    })?;
                }
            }
            for (position, authz_id) in order.authorizations.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO acme_order_authorizations (order_id, authz_id, position) VALUES ($1, $2, $3)",
                )
                .bind(&order.id)
                .bind(authz_id)
                .bind(position as i64)
                .execute(&mut *conn)
                .await
                .map_err(|e| {
                    refusal(
                        e,
                        &format!("authorization {authz_id} listed twice in ACME order {}", order.id),
                        &format!("ACME authorization {authz_id}"),
                    )
                })?;
            }
            Ok(())
        }

        fn unexpected(what: &str) -> StoreError {
            StoreError::Corrupt(format!(
                "internal: writer answered {what} with the wrong kind of result"
            ))
        }

        impl $store {
            async fn acme_write(&self, write: AcmeWrite, what: &str) -> Result<Done, StoreError> {
                let done = self.write(Op::Acme(Box::new(write))).await?;
                match done {
                    Done::Unit | Done::Number(_) => Ok(done),
                    _ => Err(unexpected(what)),
                }
            }

            async fn acme_challenges(
                &self,
                authz_id: &str,
            ) -> Result<Vec<AcmeChallenge>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE authz_id = $1 ORDER BY position"
                )))
                .bind(authz_id)
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(challenge_from_row).collect()
            }

            async fn acme_authz_with_challenges(
                &self,
                row: &DbRow,
            ) -> Result<AcmeAuthorization, StoreError> {
                let id: String = row.try_get("id")?;
                let challenges = self.acme_challenges(&id).await?;
                authz_from_row(row, challenges)
            }
        }

        #[async_trait]
        impl AcmeStore for $store {
            async fn nonce_key(&self) -> Result<Vec<u8>, StoreError> {
                let mut fresh = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut fresh).map_err(|_| {
                    StoreError::Corrupt("the OS random generator failed".into())
                })?;
                let created_at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                // The first caller's key wins; everyone reads the stored one.
                sqlx::query(
                    "INSERT INTO acme_secrets (name, value, created_at) VALUES ('nonce-hmac', $1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&fresh)
                .bind(created_at)
                .execute(&self.$side)
                .await?;
                Ok(sqlx::query_scalar("SELECT value FROM acme_secrets WHERE name = 'nonce-hmac'")
                    .fetch_one(&self.$side)
                    .await?)
            }

            async fn redeem_nonce(&self, value: &str, expires_at: i64) -> Result<bool, StoreError> {
                self.redeem_nonce_write(value, expires_at).await
            }

            async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
                Ok(sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.$side)
                    .await?
                    .rows_affected())
            }

            async fn create_account(
                &self,
                account: &AcmeAccount,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::CreateAccount {
                    account: account.clone(),
                    audit,
                };
                self.acme_write(write, "create_account").await.map(drop)
            }

            async fn account(&self, id: &str) -> Result<Option<AcmeAccount>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
                row.as_ref().map(account_from_row).transpose()
            }

            async fn account_by_thumbprint(
                &self,
                thumbprint: &str,
            ) -> Result<Option<AcmeAccount>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE key_thumbprint = $1"
                )))
                .bind(thumbprint)
                .fetch_optional(&self.$reader)
                .await?;
                row.as_ref().map(account_from_row).transpose()
            }

            async fn update_account_contacts(
                &self,
                id: &str,
                contacts: &[String],
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::UpdateContacts {
                    id: id.to_owned(),
                    contacts: contacts.to_vec(),
                    now,
                    audit,
                };
                self.acme_write(write, "update_account_contacts").await.map(drop)
            }

            async fn deactivate_account(
                &self,
                id: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::DeactivateAccount {
                    id: id.to_owned(),
                    now,
                    audit,
                };
                self.acme_write(write, "deactivate_account").await.map(drop)
            }

            async fn change_account_key(
                &self,
                id: &str,
                new_thumbprint: &str,
                new_jwk: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::ChangeKey {
                    id: id.to_owned(),
                    thumbprint: new_thumbprint.to_owned(),
                    jwk: new_jwk.to_owned(),
                    now,
                    audit,
                };
                self.acme_write(write, "change_account_key").await.map(drop)
            }

            async fn create_eab(&self, eab: &AcmeEab, audit: NewAuditEntry) -> Result<(), StoreError> {
                let write = AcmeWrite::CreateEab {
                    eab: eab.clone(),
                    audit,
                };
                self.acme_write(write, "create_eab").await.map(drop)
            }

            async fn eab(&self, kid: &str) -> Result<Option<AcmeEab>, StoreError> {
                let row = sqlx::query(
                    "SELECT kid, mac_key, directory, created_at, bound_account, bound_at \
                     FROM acme_eab WHERE kid = $1",
                )
                .bind(kid)
                .fetch_optional(&self.$reader)
                .await?;
                row.map(|r| {
                    Ok(AcmeEab {
                        kid: r.try_get("kid")?,
                        mac_key: r.try_get("mac_key")?,
                        directory: r.try_get("directory")?,
                        created_at: r.try_get("created_at")?,
                        bound_account: r.try_get("bound_account")?,
                        bound_at: r.try_get("bound_at")?,
                    })
                })
                .transpose()
            }

            async fn create_order(
                &self,
                order: &AcmeOrder,
                new_authorizations: &[AcmeAuthorization],
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::CreateOrder {
                    order: order.clone(),
                    authorizations: new_authorizations.to_vec(),
                    audit,
                };
                self.acme_write(write, "create_order").await.map(drop)
            }

            async fn order(&self, id: &str) -> Result<Option<AcmeOrder>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORDER_COLUMNS} FROM acme_orders WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let authorizations: Vec<String> = sqlx::query_scalar(
                    "SELECT authz_id FROM acme_order_authorizations WHERE order_id = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(&self.$reader)
                .await?;
                order_from_row(&row, authorizations).map(Some)
            }

            async fn orders_of_account(
                &self,
                account_id: &str,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<String>, StoreError> {
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                Ok(sqlx::query_scalar(
                    "SELECT id FROM acme_orders WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(account_id)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn authorization(&self, id: &str) -> Result<Option<AcmeAuthorization>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUTHZ_COLUMNS} FROM acme_authorizations WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
                match row {
                    Some(row) => self.acme_authz_with_challenges(&row).await.map(Some),
                    None => Ok(None),
                }
            }

            async fn authorizations_of_order(
                &self,
                order_id: &str,
            ) -> Result<Vec<AcmeAuthorization>, StoreError> {
                let rows = sqlx::query(
                    "SELECT a.id, a.account_id, a.identifier_type, a.identifier_value, a.wildcard, \
                     a.status, a.expires_at, a.created_at, a.updated_at \
                     FROM acme_order_authorizations oa JOIN acme_authorizations a ON a.id = oa.authz_id \
                     WHERE oa.order_id = $1 ORDER BY oa.position",
                )
                .bind(order_id)
                .fetch_all(&self.$reader)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.acme_authz_with_challenges(row).await?);
                }
                Ok(out)
            }

            async fn challenge(&self, id: &str) -> Result<Option<AcmeChallenge>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
                row.as_ref().map(challenge_from_row).transpose()
            }

            async fn reusable_authorization(
                &self,
                account_id: &str,
                identifier: &AcmeIdentifier,
                wildcard: bool,
                now: i64,
                validated_since: i64,
            ) -> Result<Option<AcmeAuthorization>, StoreError> {
                // A valid authorization's updated_at is when it became valid: no later
                // change leaves it valid.
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUTHZ_COLUMNS} FROM acme_authorizations \
                     WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 \
                     AND wildcard = $4 AND status = 'valid' AND expires_at > $5 AND updated_at >= $6 \
                     ORDER BY expires_at DESC, id LIMIT 1"
                )))
                .bind(account_id)
                .bind(&identifier.kind)
                .bind(&identifier.value)
                .bind(wildcard)
                .bind(now)
                .bind(validated_since)
                .fetch_optional(&self.$reader)
                .await?;
                match row {
                    Some(row) => self.acme_authz_with_challenges(&row).await.map(Some),
                    None => Ok(None),
                }
            }

            async fn nth_newest_order_since(
                &self,
                account_id: &str,
                since: i64,
                n: u32,
            ) -> Result<Option<i64>, StoreError> {
                if n == 0 {
                    return Ok(Some(since));
                }
                Ok(sqlx::query_scalar(
                    "SELECT created_at FROM acme_orders WHERE account_id = $1 AND created_at >= $2 \
                     ORDER BY created_at DESC LIMIT 1 OFFSET $3",
                )
                .bind(account_id)
                .bind(since)
                .bind(i64::from(n) - 1)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn nth_newest_certificate_naming_since(
                &self,
                san: &str,
                since: i64,
                n: u32,
            ) -> Result<Option<i64>, StoreError> {
                if n == 0 {
                    return Ok(Some(since));
                }
                Ok(sqlx::query_scalar(
                    "SELECT c.created_at FROM certificate_sans s JOIN certificates c ON c.id = s.certificate_id \
                     WHERE s.san = $1 AND c.created_at >= $2 \
                     ORDER BY c.created_at DESC LIMIT 1 OFFSET $3",
                )
                .bind(san)
                .bind(since)
                .bind(i64::from(n) - 1)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn add_cross_certificate(
                &self,
                cross: &CrossCertificate,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::AddCrossCertificate {
                    cross: cross.clone(),
                    audit,
                };
                self.acme_write(write, "add_cross_certificate").await.map(drop)
            }

            async fn cross_certificates(
                &self,
                issuer_id: &str,
                now: i64,
            ) -> Result<Vec<CrossCertificate>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, issuer_id, signed_by, der, not_after, created_at \
                     FROM issuer_cross_certificates WHERE issuer_id = $1 AND not_after > $2 \
                     ORDER BY created_at, id",
                )
                .bind(issuer_id)
                .bind(now)
                .fetch_all(&self.$reader)
                .await?;
                rows.iter()
                    .map(|r| -> Result<CrossCertificate, StoreError> {
                        Ok(CrossCertificate {
                            id: r.try_get("id")?,
                            issuer_id: r.try_get("issuer_id")?,
                            signed_by: r.try_get("signed_by")?,
                            der: r.try_get("der")?,
                            not_after: r.try_get("not_after")?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn add_renewal_override(
                &self,
                override_: &RenewalOverride,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::AddRenewalOverride {
                    override_: override_.clone(),
                    audit,
                };
                self.acme_write(write, "add_renewal_override").await.map(drop)
            }

            async fn renewal_override_for(
                &self,
                issuer_id: &str,
                profile: &str,
                serial_hex: &str,
                created_at: i64,
            ) -> Result<Option<RenewalOverride>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, issuer_id, profile, serial_hex, window_start, window_end, reason, created_at \
                     FROM renewal_overrides WHERE created_at >= $4 \
                     AND (issuer_id IS NULL OR issuer_id = $1) \
                     AND (profile IS NULL OR profile = $2) \
                     AND (serial_hex IS NULL OR serial_hex = $3) \
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(issuer_id)
                .bind(profile)
                .bind(serial_hex)
                .bind(created_at)
                .fetch_optional(&self.$reader)
                .await?;
                row.map(|r| -> Result<RenewalOverride, StoreError> {
                    Ok(RenewalOverride {
                        id: r.try_get("id")?,
                        issuer_id: r.try_get("issuer_id")?,
                        profile: r.try_get("profile")?,
                        serial_hex: r.try_get("serial_hex")?,
                        window_start: r.try_get("window_start")?,
                        window_end: r.try_get("window_end")?,
                        reason: r.try_get("reason")?,
                        created_at: r.try_get("created_at")?,
                    })
                })
                .transpose()
            }

            async fn begin_validation(
                &self,
                challenge_id: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<bool, StoreError> {
                let write = AcmeWrite::BeginValidation {
                    challenge_id: challenge_id.to_owned(),
                    now,
                    audit,
                };
                match self.acme_write(write, "begin_validation").await? {
                    Done::Number(n) => Ok(n > 0),
                    _ => Err(unexpected("begin_validation")),
                }
            }

            async fn finish_validation(
                &self,
                challenge_id: &str,
                valid_until: Option<i64>,
                error: Option<&str>,
                records: Option<&str>,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::FinishValidation {
                    challenge_id: challenge_id.to_owned(),
                    valid_until,
                    error: error.map(str::to_owned),
                    records: records.map(str::to_owned),
                    now,
                    audit,
                };
                self.acme_write(write, "finish_validation").await.map(drop)
            }

            async fn deactivate_authorization(
                &self,
                id: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::DeactivateAuthorization {
                    id: id.to_owned(),
                    now,
                    audit,
                };
                self.acme_write(write, "deactivate_authorization").await.map(drop)
            }

            async fn begin_finalize(
                &self,
                order_id: &str,
                csr_der: &[u8],
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<bool, StoreError> {
                let write = AcmeWrite::BeginFinalize {
                    order_id: order_id.to_owned(),
                    csr: csr_der.to_vec(),
                    now,
                    audit,
                };
                match self.acme_write(write, "begin_finalize").await? {
                    Done::Number(n) => Ok(n > 0),
                    _ => Err(unexpected("begin_finalize")),
                }
            }

            async fn finish_order(
                &self,
                order_id: &str,
                outcome: Result<&str, &str>,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                let write = AcmeWrite::FinishOrder {
                    order_id: order_id.to_owned(),
                    outcome: outcome.map(str::to_owned).map_err(str::to_owned),
                    now,
                    audit,
                };
                self.acme_write(write, "finish_order").await.map(drop)
            }
        }
    };
}
pub(crate) use acme_backend;
