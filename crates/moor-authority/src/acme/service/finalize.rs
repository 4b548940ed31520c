//! Finalization (RFC 8555 §7.4) and certificate download.

use super::authorizations::{identifier_of_authz, problem_identifier};
use super::orders::{parse_acme_identifier, to_acme_identifier};
use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct FinalizePayload {
    csr: String,
}

impl AcmeService {
    /// finalize (RFC 8555 §7.4): the CSR must name exactly the order's identifiers; CAA
    /// is checked again for authorizations validated longer ago than `caa_recheck_after`;
    /// the certificate is issued through [`Authority::issue`] by `acme:<account id>` with
    /// the order's profile. An order left `processing` by a node that died is taken over
    /// (with the CSR stored when it began).
    pub async fn finalize(
        &self,
        order_id: &str,
        req: &Authenticated,
        account_uri: &str,
    ) -> Result<AcmeOrder, AcmeError> {
        let account = req.account()?;
        let order = self.owned_order(order_id, account).await?;
        let payload: FinalizePayload = req.jws.payload_json()?;
        if order.status != "ready" {
            if order.status == "processing" || order.status == "valid" {
                return self.resume_if_abandoned(order, account).await;
            }
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                format!("the order is {}, not ready", order.status),
            ));
        }
        let der = b64url_decode(&payload.csr, "csr")?;
        let bad_csr = |d: String| AcmeError::new(ProblemType::BadCsr, d);
        let csr = moor_core::csr::verify_csr(&der).map_err(|r| bad_csr(r.detail))?;
        let profile = self.order_profile(&order)?;
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
        self.recheck_caa(&order, account_uri).await?;
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
        self.issue_for_order(&order, account, der).await
    }

    /// The profile an order issues with: the one it selected (profiles extension), else
    /// its directory's.
    fn order_profile(&self, order: &AcmeOrder) -> Result<&Profile, AcmeError> {
        let name = order.profile.as_deref().unwrap_or(&order.directory);
        self.authority
            .profiles()
            .get(name)
            .ok_or_else(|| internal(format!("order {}: profile {name} is gone", order.id)))
    }

    /// CAA again (RFC 8659; BR 3.2.2.8) for every authorization of the order validated
    /// more than `caa_recheck_after` ago, with the method that validated it.
    async fn recheck_caa(&self, order: &AcmeOrder, account_uri: &str) -> Result<(), AcmeError> {
        let now = self.now();
        let authzs = self
            .authority
            .store()
            .acme()
            .authorizations_of_order(&order.id)
            .await
            .map_err(store_err)?;
        let directory = self
            .profile(&order.directory)
            .ok_or_else(|| AcmeError::malformed("no such directory"))?;
        let validator = self.validator(directory);
        for a in authzs {
            if a.updated_at > now - self.settings.caa_recheck_after_secs {
                continue;
            }
            let method = a
                .challenges
                .iter()
                .find(|c| c.status == "valid")
                .and_then(|c| ChallengeType::parse(&c.kind));
            let (Some(method), Some(id)) = (method, identifier_of_authz(&a)) else {
                continue;
            };
            let caa_id = if a.wildcard {
                Identifier::Dns(format!("*.{}", a.identifier.value))
            } else {
                id
            };
            let caa = validator.check_caa(&caa_id, account_uri, method).await;
            if !caa.permitted {
                return Err(AcmeError::from(
                    moor_core::acme::Problem::new(
                        ProblemType::Caa,
                        format!(
                            "CAA rechecked at finalize (validated {}): {}",
                            rfc3339(a.updated_at),
                            caa.reason
                        ),
                    )
                    .with_identifier(problem_identifier(&a.identifier)),
                ));
            }
        }
        Ok(())
    }

    /// An order still `processing` after [`PROCESSING_TAKEOVER_SECS`] lost its node
    /// mid-issuance: take it over and issue with the CSR stored when it began. Any other
    /// order is returned as it is.
    pub(super) async fn resume_if_abandoned(
        &self,
        order: AcmeOrder,
        account: &AcmeAccount,
    ) -> Result<AcmeOrder, AcmeError> {
        let now = self.now();
        let abandoned = order.status == "processing"
            && order
                .processing_since
                .is_some_and(|t| t <= now - PROCESSING_TAKEOVER_SECS);
        let Some(csr) = order.csr.clone().filter(|_| abandoned) else {
            return Ok(order);
        };
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(
            &actor,
            "acme.order.finalize",
            &order.id,
            &[("takeover", "true")],
        );
        if !self
            .authority
            .store()
            .acme()
            .begin_finalize(&order.id, &csr, now, audit)
            .await
            .map_err(store_err)?
        {
            return self.owned_order(&order.id, account).await;
        }
        tracing::warn!(order = %order.id, "ACME: finishing an order whose finalization was abandoned");
        self.issue_for_order(&order, account, csr).await
    }

    /// Issue for an order this caller moved to `processing`, then record the outcome.
    async fn issue_for_order(
        &self,
        order: &AcmeOrder,
        account: &AcmeAccount,
        der: Vec<u8>,
    ) -> Result<AcmeOrder, AcmeError> {
        let store = self.authority.store().acme();
        let actor = format!("acme:{}", account.id);
        let profile = self.order_profile(order)?.name.clone();
        let issued = self
            .authority
            .issue(
                &Requester::acme_account(&account.id),
                IssueRequest {
                    profile,
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
        // RFC 9773 `replaces`: the new certificate supersedes the old one (the inventory
        // stops calling the old one expiring). The order stands even if this link fails.
        if let (Ok(serial), Some(cert_id)) = (&outcome, &order.replaces) {
            self.link_replacement(&actor, serial, cert_id).await;
        }
        self.owned_order(&order.id, account).await
    }

    /// Record that `serial` renewed the certificate `cert_id` (an ARI id) names; logged,
    /// never fatal (an order finished twice links once).
    async fn link_replacement(&self, actor: &str, serial: &str, cert_id: &str) {
        let old = match self.certificate_by_ari_id(cert_id).await {
            Ok(rec) => rec.serial_hex,
            Err(e) => {
                tracing::warn!(cert_id, error = %e.detail(), "replaced certificate not found");
                return;
            }
        };
        let audit = self.audit(
            actor,
            "certificate.renew",
            serial,
            &[("predecessor", old.as_str()), ("via", "acme replaces")],
        );
        match self
            .authority
            .store()
            .enrollment()
            .record_renewal(serial, &old, self.now(), audit)
            .await
        {
            Ok(()) | Err(moor_store::StoreError::Conflict { .. }) => {}
            Err(e) => tracing::warn!(serial, error = %e, "linking an ACME renewal failed"),
        }
    }

    /// The certificate of a valid order with chain number `chain` (RFC 8555 §7.4.2), PEM,
    /// and how many chains there are. Chain 0 is the issuer's own certificate; each
    /// unexpired cross-signed certificate of the issuer adds an alternate chain.
    pub async fn certificate_chain(
        &self,
        order_id: &str,
        req: &Authenticated,
        chain: usize,
    ) -> Result<(String, usize), AcmeError> {
        req.jws.expect_post_as_get()?;
        let order = self.owned_order(order_id, req.account()?).await?;
        let serial = order
            .certificate_serial
            .ok_or_else(|| AcmeError::malformed("the order has no certificate").with_status(404))?;
        let rec = self.certificate_record(&serial).await?;
        let cross = self
            .authority
            .store()
            .acme()
            .cross_certificates(&rec.issuer_id, self.now())
            .await
            .map_err(store_err)?;
        let mut pem = crate::trust_anchor::pem_certs(&[&rec.der]);
        match chain {
            0 => {
                if let Some(issuer) = self.authority.issuer_cert(&rec.issuer_id) {
                    pem.push_str(&crate::trust_anchor::pem_certs(&[issuer]));
                }
            }
            n => {
                let c = cross
                    .get(n - 1)
                    .ok_or_else(|| AcmeError::malformed("no such chain").with_status(404))?;
                pem.push_str(&crate::trust_anchor::pem_certs(&[&c.der]));
            }
        }
        Ok((pem, 1 + cross.len()))
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
