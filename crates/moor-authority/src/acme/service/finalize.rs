//! Finalization (RFC 8555 §7.4) and certificate download.

use super::orders::{parse_acme_identifier, to_acme_identifier};
use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct FinalizePayload {
    csr: String,
}

impl AcmeService {
    /// finalize (RFC 8555 §7.4): the CSR must name exactly the order's identifiers; the
    /// certificate is issued through [`Authority::issue`] by `acme:<account id>`.
    pub async fn finalize(
        &self,
        order_id: &str,
        req: &Authenticated,
    ) -> Result<AcmeOrder, AcmeError> {
        let account = req.account()?;
        let order = self.owned_order(order_id, account).await?;
        let payload: FinalizePayload = req.jws.payload_json()?;
        if order.status != "ready" {
            if order.status == "processing" || order.status == "valid" {
                return Ok(order);
            }
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                format!("the order is {}, not ready", order.status),
            ));
        }
        let der = b64url_decode(&payload.csr, "csr")?;
        let bad_csr = |d: String| AcmeError::new(ProblemType::BadCsr, d);
        let csr = moor_core::csr::verify_csr(&der).map_err(|r| bad_csr(r.detail))?;
        let profile = self
            .profile(&order.directory)
            .ok_or_else(|| AcmeError::malformed("no such directory"))?;
        let rules = IdentifierRules {
            public: profile.public,
        };
        let mut csr_ids = BTreeSet::new();
        for id in &csr.sans {
            let a = to_acme_identifier(id);
            let checked =
                parse_acme_identifier(&a, rules).map_err(|e| bad_csr(e.detail().to_string()))?;
            csr_ids.insert(checked);
        }
        if let Some(cn) = &csr.common_name {
            let a = AcmeIdentifier {
                kind: if cn.parse::<std::net::IpAddr>().is_ok() {
                    "ip"
                } else {
                    "dns"
                }
                .into(),
                value: cn.clone(),
            };
            let checked = parse_acme_identifier(&a, rules)
                .map_err(|e| bad_csr(format!("CN: {}", e.detail())))?;
            if !csr_ids.contains(&checked) {
                return Err(bad_csr("the CSR's CN is not one of its SANs".into()));
            }
        }
        let mut order_ids = BTreeSet::new();
        for a in &order.identifiers {
            order_ids.insert(parse_acme_identifier(a, rules)?);
        }
        if csr_ids != order_ids {
            return Err(bad_csr(
                "the CSR's names are not exactly the order's identifiers".into(),
            ));
        }
        let store = self.authority.store().acme();
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(&actor, "acme.order.finalize", &order.id, &[]);
        if !store
            .begin_finalize(&order.id, &der, self.now(), audit)
            .await
            .map_err(store_err)?
        {
            return self.owned_order(order_id, account).await;
        }
        let issued = self
            .authority
            .issue(
                &Requester::acme_account(&account.id),
                IssueRequest {
                    profile: order.directory.clone(),
                    subject: SubjectSource::Csr(der),
                    lifetime: None,
                },
            )
            .await;
        let (outcome, err) = match &issued {
            Ok(i) => (Ok(i.serial.clone()), None),
            Err(e) => {
                let p = authority_problem(e);
                (
                    Err(String::from_utf8_lossy(&p.to_json()).into_owned()),
                    Some(p),
                )
            }
        };
        let audit = self.audit(
            &actor,
            "acme.order.finish",
            &order.id,
            &[("serial", outcome.as_ref().map(|s| s.as_str()).unwrap_or(""))],
        );
        store
            .finish_order(
                &order.id,
                outcome.as_ref().map(|s| s.as_str()).map_err(|s| s.as_str()),
                self.now(),
                audit,
            )
            .await
            .map_err(store_err)?;
        if let Some(p) = err {
            return Err(AcmeError::from(p));
        }
        self.owned_order(order_id, account).await
    }

    /// The certificate of a valid order with its chain, PEM (RFC 8555 §7.4.2).
    pub async fn certificate_chain(
        &self,
        order_id: &str,
        req: &Authenticated,
    ) -> Result<String, AcmeError> {
        req.jws.expect_post_as_get()?;
        let order = self.owned_order(order_id, req.account()?).await?;
        let serial = order
            .certificate_serial
            .ok_or_else(|| AcmeError::malformed("the order has no certificate").with_status(404))?;
        let rec = self.certificate_record(&serial).await?;
        let mut pem = pem_block(&rec.der);
        if let Some(issuer) = self.authority.issuer_cert(&rec.issuer_id) {
            pem.push_str(&pem_block(issuer));
        }
        Ok(pem)
    }

    pub(super) async fn certificate_record(
        &self,
        serial: &str,
    ) -> Result<CertificateRecord, AcmeError> {
        self.authority
            .store()
            .get_certificate(serial)
            .await
            .map_err(store_err)?
            .ok_or_else(|| AcmeError::malformed("no such certificate").with_status(404))
    }
}

pub(super) fn pem_block(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
