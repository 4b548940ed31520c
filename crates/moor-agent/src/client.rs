//! The Mooring REST calls the agent makes: `POST /api/v1/enroll` (bootstrap token) and
//! `POST /api/v1/renew` (mTLS with the current certificate), each with a fresh key's CSR.

use std::time::Duration;

use serde_json::{Value, json};

use crate::AgentError;

/// A new key and its CSR for `names`.
pub struct KeyAndCsr {
    /// PKCS#8 PEM.
    pub key_pem: String,
    pub csr_pem: String,
    pub csr_der: Vec<u8>,
}

/// A fresh ECDSA P-256 key and a CSR naming `names` (CN = the first).
pub fn new_key_and_csr(names: &[String]) -> Result<KeyAndCsr, AgentError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| AgentError::Key(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| AgentError::Key(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    let csr = params
        .serialize_request(&key)
        .map_err(|e| AgentError::Key(e.to_string()))?;
    Ok(KeyAndCsr {
        key_pem: key.serialize_pem(),
        csr_pem: csr.pem().map_err(|e| AgentError::Key(e.to_string()))?,
        csr_der: csr.der().to_vec(),
    })
}

/// What the server issued: leaf and chain PEM.
pub struct Obtained {
    pub cert_pem: String,
    pub chain_pem: String,
}

pub(crate) fn client(
    roots_pem: &[u8],
    identity_pem: Option<&[u8]>,
) -> Result<reqwest::Client, AgentError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60));
    for c in reqwest::Certificate::from_pem_bundle(roots_pem)
        .map_err(|e| AgentError::Config(format!("ca_bundle: {e}")))?
    {
        b = b.add_root_certificate(c);
    }
    if let Some(id) = identity_pem {
        b = b.identity(
            reqwest::Identity::from_pem(id)
                .map_err(|e| AgentError::Key(format!("identity: {e}")))?,
        );
    }
    b.build().map_err(|e| AgentError::Config(e.to_string()))
}

async fn post(req: reqwest::RequestBuilder, csr_pem: &str) -> Result<Obtained, AgentError> {
    let r = req
        .json(&json!({ "csr": csr_pem }))
        .send()
        .await
        .map_err(|e| AgentError::Unreachable(e.to_string()))?;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if status != 201 {
        return Err(AgentError::Refused {
            status,
            message: v["message"].as_str().unwrap_or("").to_string(),
        });
    }
    let cert_pem = v["certificate"]
        .as_str()
        .ok_or_else(|| AgentError::BadAnswer("no certificate".into()))?;
    let chain_pem = v["chain"].as_str().unwrap_or_default();
    Ok(Obtained {
        cert_pem: cert_pem.to_string(),
        chain_pem: chain_pem.to_string(),
    })
}

/// `POST /api/v1/enroll` with a bootstrap token.
pub async fn enroll(
    server: &str,
    roots_pem: &[u8],
    token: &str,
    csr_pem: &str,
) -> Result<Obtained, AgentError> {
    let c = client(roots_pem, None)?;
    post(
        c.post(format!("{}/api/v1/enroll", server.trim_end_matches('/')))
            .bearer_auth(token.trim()),
        csr_pem,
    )
    .await
}

/// `POST /api/v1/renew` with the current certificate (and chain) and key as TLS client
/// identity.
pub async fn renew(
    server: &str,
    roots_pem: &[u8],
    identity_pem: &[u8],
    csr_pem: &str,
) -> Result<Obtained, AgentError> {
    let c = client(roots_pem, Some(identity_pem))?;
    post(
        c.post(format!("{}/api/v1/renew", server.trim_end_matches('/'))),
        csr_pem,
    )
    .await
}

/// An EST request (RFC 7030 §4.2): base64 DER PKCS#10 in, certs-only PKCS#7 out.
async fn est(req: reqwest::RequestBuilder, csr_der: &[u8]) -> Result<Obtained, AgentError> {
    use base64::Engine as _;
    let r = req
        .header("content-type", "application/pkcs10")
        .header("content-transfer-encoding", "base64")
        .body(base64::engine::general_purpose::STANDARD.encode(csr_der))
        .send()
        .await
        .map_err(|e| AgentError::Unreachable(e.to_string()))?;
    let status = r.status().as_u16();
    let body = r
        .bytes()
        .await
        .map_err(|e| AgentError::Unreachable(e.to_string()))?;
    if status != 200 {
        return Err(AgentError::Refused {
            status,
            message: String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect(),
        });
    }
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| AgentError::BadAnswer("the EST answer is not base64".into()))?;
    let certs =
        moor_core::pkcs7::certificates(&der).map_err(|e| AgentError::BadAnswer(e.to_string()))?;
    let (leaf, chain) = certs
        .split_first()
        .ok_or_else(|| AgentError::BadAnswer("no certificate in the EST answer".into()))?;
    Ok(Obtained {
        cert_pem: moor_core::pem::certificates(&[leaf]),
        chain_pem: moor_core::pem::certificates(
            &chain.iter().map(|c| c.as_slice()).collect::<Vec<_>>(),
        ),
    })
}

/// EST `simpleenroll` for `profile` with the bootstrap token as the Basic password.
pub async fn est_enroll(
    server: &str,
    roots_pem: &[u8],
    profile: &str,
    token: &str,
    csr_der: &[u8],
) -> Result<Obtained, AgentError> {
    let c = client(roots_pem, None)?;
    est(
        c.post(format!(
            "{}/.well-known/est/{profile}/simpleenroll",
            server.trim_end_matches('/')
        ))
        .basic_auth("moor-agent", Some(token.trim())),
        csr_der,
    )
    .await
}

/// EST `simplereenroll` with the current certificate as the TLS client identity.
pub async fn est_reenroll(
    server: &str,
    roots_pem: &[u8],
    profile: &str,
    identity_pem: &[u8],
    csr_der: &[u8],
) -> Result<Obtained, AgentError> {
    let c = client(roots_pem, Some(identity_pem))?;
    est(
        c.post(format!(
            "{}/.well-known/est/{profile}/simplereenroll",
            server.trim_end_matches('/')
        )),
        csr_der,
    )
    .await
}
