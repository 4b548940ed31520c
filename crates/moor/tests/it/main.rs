//! Integration tests: `moor serve` on 127.0.0.1:0 in a temporary home, driven over
//! HTTPS and checked with third-party tools (openssl, pkilint, an independent
//! ML-DSA verifier). Tools come from `scripts/install-peers`; a missing one fails
//! the test with a message saying so, never skips it.

mod acme;
mod acme_policy;
mod agent;
mod alerts;
mod api;
mod cli;
mod consistency;
mod dashboard;
mod delta_crl;
mod durability;
mod enrollment;
mod est;
mod harness;
mod inventory;
mod issuance;
mod multinode;
mod ocsp;
mod oidc;
mod refusals;
mod revocation;
mod scan;
mod scan_files;
mod scep;
