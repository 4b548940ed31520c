//! Who is asking: a credential turned into a [`Requester`].
//!
//! Front doors authenticate (admin bearer token, mTLS admin certificate, later
//! ACME accounts, bootstrap tokens, OIDC) and hand the authority a
//! `Requester`. Issuance and administration take `&Requester`; there is no
//! way to issue without one.

use serde::Serialize;

/// How the requester proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// A local operator running the `moor` CLI on the CA host (file-system access to the home).
    LocalCli,
    /// An admin API bearer token, by its public id.
    AdminToken { token_id: String },
    /// An mTLS client certificate of the `admin` profile, by serial.
    AdminCertificate { serial: String },
    /// An ACME account (RFC 8555) whose challenges were validated, by account id.
    AcmeAccount { account_id: String },
    /// A bootstrap token (limited use, scoped to a profile and names), by its public id.
    BootstrapToken { token_id: String },
    /// The holder of a certificate we issued, renewing it, by its serial.
    Renewal { serial: String },
    /// A workload with a token of an OIDC provider, by provider and `sub`.
    Oidc { provider: String, subject: String },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requester {
    /// How it authenticated.
    pub credential: Credential,
}

impl Requester {
    /// The local CLI operator.
    pub fn cli() -> Requester {
        Requester {
            credential: Credential::LocalCli,
        }
    }

    /// A stable string for the store and the audit log (`cli`, `token:tok_…`, `mtls:<serial>`).
    pub fn id(&self) -> String {
        match &self.credential {
            Credential::LocalCli => "cli".into(),
            Credential::AdminToken { token_id } => format!("token:{token_id}"),
            Credential::AdminCertificate { serial } => format!("mtls:{serial}"),
            Credential::AcmeAccount { account_id } => format!("acme:{account_id}"),
            Credential::BootstrapToken { token_id } => format!("bootstrap:{token_id}"),
            Credential::Renewal { serial } => format!("renew:{serial}"),
            Credential::Oidc { provider, subject } => format!("oidc:{provider}:{subject}"),
        }
    }

    /// An ACME account.
    pub fn acme_account(account_id: &str) -> Requester {
        Requester {
            credential: Credential::AcmeAccount {
                account_id: account_id.to_string(),
            },
        }
    }

    /// Whether this requester may administer the CA (an operator, an admin token or an
    /// admin certificate; never an ACME account or a bootstrap token).
    pub fn is_admin(&self) -> bool {
        !matches!(
            self.credential,
            Credential::AcmeAccount { .. }
                | Credential::BootstrapToken { .. }
                | Credential::Renewal { .. }
                | Credential::Oidc { .. }
        )
    }
}
