//! Provisioners: credentials of machines that ask for a certificate, each turned into a
//! [`crate::Requester`] whose scope the issuance is checked against. Admin tokens live in
//! `admin_token.rs`; ACME accounts in `acme/`.

pub mod bootstrap_token;
pub mod oidc;
