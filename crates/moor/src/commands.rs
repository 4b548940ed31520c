//! One function per CLI command.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use moor_authority::trust_anchor::{self, NameConstraintOptions, NewHierarchy};
use moor_authority::{IssueRequest, Requester, SubjectSource};
use moor_core::KeyAlgorithm;
use moor_store::CertificateFilter;
use serde::Serialize;

use crate::cli::*;
use crate::inventory_cmd;
use crate::output::{print, rfc3339};
use crate::wiring::{self, Env};

/// Run the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    // The agent runs on machines that hold certificates: no home, no store.
    if let Command::Agent(a) = cli.command {
        return agent(cli.output, a).await;
    }
    // Discovery scans need no home either.
    if let Command::Scan(c) = cli.command {
        return crate::scan::run(cli.output, c).await;
    }
    let env = wiring::open(&cli.home, cli.database.as_deref()).await?;
    let out = cli.output;
    match cli.command {
        Command::Init(a) => init(&env, out, a).await,
        Command::Serve(a) => serve(env, a).await,
        Command::Issue(a) => issue(&env, out, a).await,
        Command::Sign(a) => sign(&env, out, a).await,
        Command::Certs(CertsCommand::List(a)) => list(&env, out, a).await,
        Command::Certs(CertsCommand::Show { serial, pem }) => show(&env, out, &serial, pem).await,
        Command::Certs(CertsCommand::Search(a)) => inventory_cmd::search(&env, out, a).await,
        Command::Certs(CertsCommand::Item { fingerprint }) => {
            inventory_cmd::item(&env, out, &fingerprint).await
        }
        Command::Certs(CertsCommand::Tag(a)) => inventory_cmd::tag(&env, out, a).await,
        Command::Certs(CertsCommand::Act(a)) => inventory_cmd::act(&env, out, a).await,
        Command::Findings(a) => inventory_cmd::findings(&env, out, a).await,
        Command::Revoke(a) => revoke(&env, out, a).await,
        Command::Ca(CaCommand::List) => ca_list(&env, out).await,
        Command::Ca(CaCommand::AddIssuer(a)) => add_issuer(&env, out, a).await,
        Command::Ca(CaCommand::CrossSign(a)) => cross_sign(&env, out, a).await,
        Command::Audit(AuditCommand::Verify) => audit_verify(&env, out).await,
        Command::Token(TokenCommand::Create(a)) if a.profile.is_some() => {
            bootstrap_token_create(&env, out, a).await
        }
        Command::Token(TokenCommand::Create(a)) => {
            if !a.sans.is_empty() || a.owner.is_some() {
                bail!(
                    "--san and --owner make a bootstrap token: give its --profile (without it, this would create an admin token)"
                );
            }
            token_create(&env, out, &a.name).await
        }
        Command::Token(TokenCommand::List) => bootstrap_token_list(&env, out).await,
        Command::Token(TokenCommand::Revoke { id }) => bootstrap_token_revoke(&env, out, &id).await,
        Command::Migrate => migrate(&env, out).await,
        Command::Agent(_) | Command::Scan(_) => unreachable!("handled before the home is opened"),
        Command::Acme(AcmeCommand::Eab(EabCommand::Create { profile })) => {
            eab_create(&env, out, profile.as_deref()).await
        }
        Command::Acme(AcmeCommand::RenewNow(a)) => renew_now(&env, out, a).await,
    }
}

/// Opening the store applied any pending migration; report where the schema stands.
async fn migrate(env: &Env, out: OutputFormat) -> Result<ExitCode> {
    #[derive(Serialize)]
    struct V {
        database: String,
        schema_version: i64,
        migrations: Vec<i64>,
    }
    let migrations = env.store.schema_versions().await?;
    let v = V {
        database: env.database.display(),
        schema_version: migrations.last().copied().unwrap_or(0),
        migrations,
    };
    print(out, &v, |v| {
        format!(
            "{}: schema version {} (migrations {:?} applied)\n",
            v.database, v.schema_version, v.migrations
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn parse_alg(s: &str) -> Result<KeyAlgorithm> {
    Ok(s.parse()?)
}

fn constraints(c: &ConstraintArgs) -> NameConstraintOptions {
    NameConstraintOptions {
        permitted_dns: c.permit_dns.clone(),
        excluded_dns: c.exclude_dns.clone(),
    }
}

#[derive(Serialize)]
struct InitView {
    home: String,
    root: String,
    root_fingerprint: String,
    issuer: String,
    algorithm: String,
    roots_pem: String,
    admin_token_file: String,
    passphrase_file: Option<String>,
    offline_root_key: Option<String>,
}

async fn init(env: &Env, out: OutputFormat, a: InitArgs) -> Result<ExitCode> {
    let report = wiring::initialise(
        env,
        parse_alg(&a.algorithm)?,
        a.offline_root.clone(),
        constraints(&a.constraints),
        a.organization,
    )
    .await?;
    let v = init_view(env, &report);
    print(out, &v, init_text);
    Ok(ExitCode::SUCCESS)
}

fn init_view(env: &Env, r: &wiring::InitReport) -> InitView {
    InitView {
        home: env.home.dir.display().to_string(),
        root: r.root_id.clone(),
        root_fingerprint: r.root_fingerprint.clone(),
        issuer: r.issuer_id.clone(),
        algorithm: r.algorithm.clone(),
        roots_pem: env.home.roots_path().display().to_string(),
        admin_token_file: r.admin_token_path.display().to_string(),
        passphrase_file: r.passphrase_file.as_ref().map(|p| p.display().to_string()),
        offline_root_key: r.offline_root.as_ref().map(|p| p.display().to_string()),
    }
}

fn init_text(v: &InitView) -> String {
    let mut s = format!(
        "Initialised a new CA in {}\n  root:             {} ({})\n  root fingerprint: SHA256:{}\n  issuing CA:       {}\n  trust bundle:     {}\n  admin token:      {}\n",
        v.home, v.root, v.algorithm, v.root_fingerprint, v.issuer, v.roots_pem, v.admin_token_file
    );
    if let Some(p) = &v.passphrase_file {
        s.push_str(&format!("  CA key passphrase was generated and written to {p} (0600).\n  Move it to a secret store and provide it through MOORING_CA_PASSPHRASE.\n"));
    }
    if let Some(p) = &v.offline_root_key {
        s.push_str(&format!(
            "  offline root key: {p} — move it off this machine; serve never needs it.\n"
        ));
    }
    s
}

async fn serve(env: Env, a: ServeArgs) -> Result<ExitCode> {
    let mut first = None;
    if !wiring::is_initialised(&env).await? {
        let report = wiring::initialise(
            &env,
            KeyAlgorithm::EcdsaP256,
            None,
            NameConstraintOptions::default(),
            "Mooring".into(),
        )
        .await?;
        first = Some(init_view(&env, &report));
    }
    let (pass, _) = wiring::passphrase(&env, false)?;
    let auth = wiring::authority(&env, &pass).await?;
    let listen = a.listen.unwrap_or_else(|| env.config.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let extra = if local.ip().is_unspecified() {
        vec![]
    } else {
        vec![local.ip().to_string()]
    };
    wiring::ensure_server_certificate(&env, &auth, &pass, &extra).await?;
    let chain_pem = std::fs::read_to_string(env.home.server_cert_path())?;
    let chain = wiring::pem_certs_der(&chain_pem);
    let key = moor_keys::load_key_file(&env.home.server_key_path(), &pass, None)?;
    let pkcs8 = key.to_pkcs8_der()?;
    let auth = Arc::new(auth);
    // Revocations made by any node reach this one's OCSP answers and CRLs through the
    // revocation feed; one node at a time (the CRL lease holder) builds the CRLs.
    auth.catch_up_revocations()
        .await
        .context("cannot read the revocation feed")?;
    tokio::spawn(auth.clone().follow_revocations());
    // This node's delegated OCSP responder certificates, before the first request.
    auth.ocsp_prepare_responders().await;
    tokio::spawn(auth.clone().maintain_crls());
    let roots: Vec<Vec<u8>> = auth.roots().iter().map(|r| r.to_vec()).collect();
    let root_refs: Vec<&[u8]> = roots.iter().map(|r| r.as_slice()).collect();
    let tls =
        moor_server::tls::server_config(chain, &pkcs8, &root_refs).map_err(anyhow::Error::msg)?;
    drop(pkcs8);
    if let Some(v) = &first {
        print!("{}", init_text(v));
    }
    let url = format!("https://{local}");
    println!("Mooring is serving on {url}");
    println!(
        "  REST API:     {url}/api/v1/  (Authorization: Bearer <token from {}>)",
        env.home.admin_token_path().display()
    );
    println!(
        "  trust bundle: {url}/roots.pem  (also {})",
        env.home.roots_path().display()
    );
    println!("  health:       {url}/health");
    println!("  data:         {}", env.home.dir.display());
    println!("  database:     {}", env.database.display());
    let http_listen = a
        .http_listen
        .unwrap_or_else(|| env.config.http_listen.clone());
    let http = if http_listen.is_empty() {
        None
    } else {
        let l = tokio::net::TcpListener::bind(&http_listen)
            .await
            .with_context(|| format!("cannot listen on {http_listen} (http_listen)"))?;
        println!(
            "  public HTTP:  http://{}  (CRL, OCSP, CA certificates, trust bundle, metrics)",
            l.local_addr()?
        );
        Some(l)
    };
    if let Some(f) = &a.addr_file {
        let mut text = format!("{local}\n");
        if let Some(l) = &http {
            text.push_str(&format!("{}\n", l.local_addr()?));
        }
        trust_anchor::write_atomic(f, text.as_bytes(), 0o644)?;
    }
    let mut acme_config = env.config.acme.clone();
    if let Some(p) = a.acme_http01_port {
        acme_config.http01_port = p;
    }
    if let Some(p) = a.acme_tlsalpn01_port {
        acme_config.tlsalpn01_port = p;
    }
    if let Some(r) = a.acme_dns_resolver {
        acme_config.dns_resolver = r;
    }
    if a.acme_allow_loopback {
        acme_config.allow_loopback = true;
    }
    let acme = if acme_config.enabled {
        println!("  ACME:         {url}/acme/<profile>/directory");
        let svc = Arc::new(
            moor_authority::acme::service::AcmeService::new(auth.clone(), acme_config)
                .map_err(anyhow::Error::msg)?,
        );
        Some(svc)
    } else {
        None
    };
    let scep = if env.config.scep.enabled {
        println!("  SCEP:         {url}/scep[/<profile>]  (also on the public HTTP listener)");
        Some(Arc::new(
            moor_authority::scep::ScepService::new(
                auth.clone(),
                env.config.scep.clone(),
                moor_keys::Passphrase::new(pass.expose().to_string()),
            )
            .map_err(anyhow::Error::msg)?,
        ))
    } else {
        None
    };
    let public = moor_server::public_app(auth.clone(), scep.clone());
    let oidc = if env.config.oidc.is_empty() {
        None
    } else {
        Some(Arc::new(
            moor_authority::provisioner::oidc::OidcProvisioners::new(
                &env.home,
                &auth,
                &env.config.oidc,
            )
            .map_err(anyhow::Error::msg)?,
        ))
    };
    moor_authority::acme::nonce::spawn_purge(&auth);
    let inventory = Arc::new(
        moor_authority::inventory::InventoryService::new(
            auth.clone(),
            env.config.inventory.clone(),
            env.config.alerts.clone(),
        )
        .map_err(anyhow::Error::msg)?,
    );
    moor_authority::inventory::alerts::spawn(inventory.clone());
    println!("  Inventory:    {url}/api/v1/inventory  (moor scan … --report-to {url})");
    println!("  Dashboard:    {url}/  (sign in with an admin token)");
    let app = moor_server::app_with(auth.clone(), acme, oidc, scep, Some(inventory));
    let http_task = async move {
        match http {
            Some(l) => axum::serve(l, public).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = moor_server::serve_tls(listener, tls, app) => r?,
        r = http_task => r?,
        _ = shutdown_signal() => eprintln!("shutting down"),
    }
    // Another node may build the CRLs at once instead of waiting for the lease to lapse.
    auth.release_crl_lease().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM. Every issued certificate is already durable when its response
/// leaves, so stopping at any moment loses nothing.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[derive(Serialize)]
struct IssuedView {
    serial: String,
    profile: String,
    issuer: String,
    not_after: String,
    certificate: String,
    chain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    files: Vec<String>,
}

async fn issue_common(
    env: &Env,
    out: OutputFormat,
    profile: String,
    subject: SubjectSource,
    lifetime: Option<String>,
    prefix: Option<std::path::PathBuf>,
    p12_password_file: Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    let lifetime = match lifetime {
        Some(l) => Some(
            moor_core::profile::parse_duration(&l)
                .context("lifetime must look like 90d, 12h, 30m")?,
        ),
        None => None,
    };
    let issued = auth
        .issue(
            &Requester::cli(),
            IssueRequest {
                profile,
                subject,
                lifetime,
            },
        )
        .await?;
    let mut files = Vec::new();
    if let Some(prefix) = &prefix {
        let p = |ext: &str| std::path::PathBuf::from(format!("{}{ext}", prefix.display()));
        trust_anchor::write_atomic(&p(".crt"), issued.cert_pem.as_bytes(), 0o644)?;
        trust_anchor::write_atomic(
            &p(".chain.pem"),
            format!("{}{}", issued.cert_pem, issued.chain_pem).as_bytes(),
            0o644,
        )?;
        files.push(p(".crt").display().to_string());
        files.push(p(".chain.pem").display().to_string());
        if let Some(k) = &issued.private_key_pem {
            trust_anchor::write_atomic(&p(".key"), k.as_bytes(), 0o600)?;
            files.push(p(".key").display().to_string());
        }
        if let Some(pw_file) = &p12_password_file {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(pw_file)
                    .with_context(|| format!("cannot read {}", pw_file.display()))?,
            );
            let pass = moor_keys::Passphrase::new(text.trim_end_matches(['\n', '\r']).to_string());
            let der = issued
                .pkcs12(&pass)?
                .context("--p12-password-file needs a server-generated key (moor issue)")?;
            trust_anchor::write_atomic(&p(".p12"), &der, 0o600)?;
            files.push(p(".p12").display().to_string());
        }
    }
    let v = IssuedView {
        serial: issued.serial.clone(),
        profile: issued.record.profile.clone(),
        issuer: issued.record.issuer_id.clone(),
        not_after: rfc3339(issued.record.not_after),
        certificate: issued.cert_pem.clone(),
        chain: issued.chain_pem.clone(),
        private_key: if prefix.is_none() {
            issued.private_key_pem.as_ref().map(|k| k.to_string())
        } else {
            None
        },
        files,
    };
    print(out, &v, |v| {
        if v.files.is_empty() {
            format!(
                "{}{}{}",
                v.certificate,
                v.chain,
                v.private_key.clone().unwrap_or_default()
            )
        } else {
            format!(
                "issued {} ({}, issuer {}, until {})\n  wrote {}\n",
                v.serial,
                v.profile,
                v.issuer,
                v.not_after,
                v.files.join(", ")
            )
        }
    });
    Ok(ExitCode::SUCCESS)
}

async fn issue(env: &Env, out: OutputFormat, a: IssueArgs) -> Result<ExitCode> {
    let subject = SubjectSource::Generate {
        algorithm: parse_alg(&a.algorithm)?,
        sans: a.sans,
        common_name: a.cn,
    };
    issue_common(
        env,
        out,
        a.profile,
        subject,
        a.lifetime,
        a.out,
        a.p12_password_file,
    )
    .await
}

async fn sign(env: &Env, out: OutputFormat, a: SignArgs) -> Result<ExitCode> {
    let meta =
        std::fs::metadata(&a.csr).with_context(|| format!("cannot read {}", a.csr.display()))?;
    if meta.len() > moor_core::limits::MAX_BODY_BYTES as u64 {
        bail!(
            "{} is larger than {} bytes",
            a.csr.display(),
            moor_core::limits::MAX_BODY_BYTES
        );
    }
    let csr = std::fs::read(&a.csr)?;
    issue_common(
        env,
        out,
        a.profile,
        SubjectSource::Csr(csr),
        a.lifetime,
        a.out,
        None,
    )
    .await
}

#[derive(Serialize)]
struct CertRow {
    serial: String,
    issuer: String,
    profile: String,
    subject: String,
    sans: Vec<String>,
    not_before: String,
    not_after: String,
    status: String,
    revocation_reason: Option<String>,
    requester: String,
    key_algorithm: String,
    fingerprint: String,
}

fn row(r: moor_store::CertificateRecord, now: i64) -> CertRow {
    let status = r.status_at(now).to_string();
    CertRow {
        serial: r.serial_hex,
        issuer: r.issuer_id,
        profile: r.profile,
        subject: r.subject,
        sans: r.sans,
        not_before: rfc3339(r.not_before),
        not_after: rfc3339(r.not_after),
        status,
        revocation_reason: r
            .revocation_reason
            .map(|c| moor_authority::revoke::reason_name(c).to_string()),
        requester: r.requester,
        key_algorithm: r.key_algorithm,
        fingerprint: r.fingerprint,
    }
}

async fn list(env: &Env, out: OutputFormat, a: ListArgs) -> Result<ExitCode> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expiring_before = match &a.expiring_within {
        Some(d) => Some(
            now + moor_core::profile::parse_duration(d)
                .context("expiring-within must look like 30d")?
                .as_secs() as i64,
        ),
        None => None,
    };
    let limit = a.limit.clamp(1, moor_core::limits::MAX_PAGE_SIZE);
    let mut rows = Vec::new();
    let mut after = None;
    // Page through the store until `limit` rows are collected.
    while rows.len() < limit {
        let f = CertificateFilter {
            san: a.san.clone(),
            profile: a.profile.clone(),
            issuer_id: a.issuer.clone(),
            status: a.status.clone(),
            expiring_before,
            after_id: after,
            limit: (limit - rows.len()) as i64,
            now,
        };
        let page = env.store.list_certificates(&f).await?;
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id);
        rows.extend(page.into_iter().map(|r| row(r, now)));
    }
    print(out, &rows, |rows| {
        let mut s = format!(
            "{:<34} {:<12} {:<8} {:<20} {}\n",
            "SERIAL", "PROFILE", "STATUS", "NOT AFTER", "SANS"
        );
        for r in rows {
            s.push_str(&format!(
                "{:<34} {:<12} {:<8} {:<20} {}\n",
                r.serial,
                r.profile,
                r.status,
                r.not_after,
                r.sans.join(",")
            ));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

async fn show(env: &Env, out: OutputFormat, serial: &str, pem: bool) -> Result<ExitCode> {
    let s = moor_core::serial::Serial::from_hex(serial).context("serial must be hex")?;
    let rec = env
        .store
        .get_certificate(&s.to_hex())
        .await?
        .with_context(|| format!("no certificate with serial {}", s.to_hex()))?;
    if pem {
        print!("{}", trust_anchor::pem_certs(&[&rec.der]));
        return Ok(ExitCode::SUCCESS);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let der = rec.der.clone();
    let r = row(rec, now);
    print(out, &r, |r| {
        format!(
            "serial:      {}\nissuer:      {}\nprofile:     {}\nsubject:     {}\nsans:        {}\nnot before:  {}\nnot after:   {}\nstatus:      {}{}\nkey:         {}\nrequester:   {}\nsha256:      {}\n{}",
            r.serial,
            r.issuer,
            r.profile,
            r.subject,
            r.sans.join(", "),
            r.not_before,
            r.not_after,
            r.status,
            r.revocation_reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default(),
            r.key_algorithm,
            r.requester,
            r.fingerprint,
            trust_anchor::pem_certs(&[&der])
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn revoke(env: &Env, out: OutputFormat, a: RevokeArgs) -> Result<ExitCode> {
    let reason = moor_authority::revoke::parse_reason(&a.reason)?;
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    // Through the authority, so key-compromise also revokes every certificate of the key
    // and blocks the key.
    let rec = auth.revoke(&Requester::cli(), &a.serial, reason).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let r = row(rec, now);
    print(out, &r, |r| {
        format!(
            "revoked {} ({})\n",
            r.serial,
            r.revocation_reason.clone().unwrap_or_default()
        )
    });
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct IssuerRow {
    id: String,
    kind: String,
    algorithm: String,
    parent: Option<String>,
    key: String,
    fingerprint: String,
    not_after: String,
}

async fn ca_list(env: &Env, out: OutputFormat) -> Result<ExitCode> {
    let rows: Vec<IssuerRow> = env
        .store
        .list_issuers()
        .await?
        .into_iter()
        .map(|r| IssuerRow {
            not_after: trust_anchor::cert_not_after(&r.cert_der)
                .map(rfc3339)
                .unwrap_or_default(),
            id: r.id,
            kind: r.kind,
            algorithm: r.algorithm,
            parent: r.parent_id,
            key: r.key_ref,
            fingerprint: r.fingerprint,
        })
        .collect();
    print(out, &rows, |rows| {
        let mut s = format!(
            "{:<16} {:<13} {:<11} {:<12} {:<22} {}\n",
            "ID", "KIND", "ALGORITHM", "PARENT", "NOT AFTER", "SHA256"
        );
        for r in rows {
            s.push_str(&format!(
                "{:<16} {:<13} {:<11} {:<12} {:<22} {}\n",
                r.id,
                r.kind,
                r.algorithm,
                r.parent.clone().unwrap_or_else(|| "-".into()),
                r.not_after,
                r.fingerprint
            ));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

async fn cross_sign(
    env: &Env,
    out: OutputFormat,
    a: crate::cli::CrossSignArgs,
) -> Result<ExitCode> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let cross = moor_authority::cross_sign::cross_sign(
        &env.home,
        env.store.as_ref(),
        &pass,
        env.clock.as_ref(),
        "cli",
        moor_authority::cross_sign::CrossSignRequest {
            issuer_id: a.issuer,
            by_root: a.by,
            root_key_file: a.root_key,
        },
    )
    .await?;
    #[derive(Serialize)]
    struct V {
        id: String,
        issuer: String,
        signed_by: String,
        not_after: String,
        file: String,
    }
    let v = V {
        id: cross.id,
        file: env
            .home
            .certs_dir()
            .join(format!("{}-by-{}.pem", cross.issuer_id, cross.signed_by))
            .display()
            .to_string(),
        issuer: cross.issuer_id,
        signed_by: cross.signed_by,
        not_after: moor_authority::acme::service::rfc3339(cross.not_after),
    };
    print(out, &v, |v| {
        format!(
            "cross-signed {} by {} (until {}): {}\n",
            v.issuer, v.signed_by, v.not_after, v.file
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn add_issuer(env: &Env, out: OutputFormat, a: AddIssuerArgs) -> Result<ExitCode> {
    if !wiring::is_initialised(env).await? {
        bail!(
            "no CA in {} yet: run `moor init` first",
            env.home.dir.display()
        );
    }
    let (pass, _) = wiring::passphrase(env, false)?;
    let created = trust_anchor::create_hierarchy(
        &env.home,
        env.store.as_ref(),
        &pass,
        env.clock.as_ref(),
        "cli",
        NewHierarchy {
            issuer_id: a.id,
            algorithm: parse_alg(&a.algorithm)?,
            new_root: a.new_root,
            parent_root: a.root,
            root_key_file: a.root_key,
            offline_root_key: a.offline_root,
            name_constraints: constraints(&a.constraints),
            organization: a.organization,
        },
    )
    .await?;
    #[derive(Serialize)]
    struct V {
        issuer: String,
        root: String,
        algorithm: String,
        fingerprint: String,
        root_fingerprint: String,
    }
    let v = V {
        issuer: created.intermediate.id,
        root: created.root.id,
        algorithm: created.intermediate.algorithm,
        fingerprint: created.intermediate.fingerprint,
        root_fingerprint: created.root.fingerprint,
    };
    print(out, &v, |v| {
        format!(
            "added issuer {} ({}) under root {} (SHA256:{})\nrestart `moor serve` to load it; name it in a profile with issuer = \"{}\"\n",
            v.issuer, v.algorithm, v.root, v.root_fingerprint, v.issuer
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn audit_verify(env: &Env, out: OutputFormat) -> Result<ExitCode> {
    let v = env.store.verify_audit().await?;
    print(out, &v, |v| match &v.first_failure {
        None => format!(
            "audit log OK: {} entries, head {}\n",
            v.entries, v.head_hash
        ),
        Some(f) => format!(
            "audit log FAILED at entry {}: {} ({})\n",
            f.seq, f.kind, f.detail
        ),
    });
    Ok(if v.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn token_create(env: &Env, out: OutputFormat, name: &str) -> Result<ExitCode> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    let t = auth.create_admin_token(&Requester::cli(), name).await?;
    #[derive(Serialize)]
    struct V {
        id: String,
        token: String,
    }
    let v = V {
        id: t.id.clone(),
        token: t.token.to_string(),
    };
    print(out, &v, |v| format!("{}\n", v.token));
    Ok(ExitCode::SUCCESS)
}

async fn bootstrap_token_create(
    env: &Env,
    out: OutputFormat,
    a: crate::cli::TokenCreateArgs,
) -> Result<ExitCode> {
    use moor_authority::provisioner::bootstrap_token::BootstrapSpec;
    let ttl = moor_core::profile::parse_duration(&a.ttl)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .with_context(|| format!("--ttl {:?} is not a duration like 24h or 7d", a.ttl))?;
    if a.sans.is_empty() {
        bail!("give the names the token may enroll: --san NAME (or a pattern like *.example.com)");
    }
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    let t = auth
        .create_bootstrap_token(
            &Requester::cli(),
            BootstrapSpec {
                profile: a.profile.unwrap_or_default(),
                names: a.sans,
                uses: a.uses,
                ttl_secs: ttl,
                owner: a.owner,
            },
        )
        .await?;
    #[derive(Serialize)]
    struct V {
        id: String,
        token: String,
        profile: String,
        names: Vec<String>,
        uses: i64,
        expires_at: String,
    }
    let v = V {
        id: t.record.id.clone(),
        token: t.token.to_string(),
        profile: t.record.profile.clone(),
        names: t.record.names.clone(),
        uses: t.record.max_uses,
        expires_at: moor_authority::acme::service::rfc3339(t.record.expires_at),
    };
    print(out, &v, |v| format!("{}\n", v.token));
    Ok(ExitCode::SUCCESS)
}

async fn bootstrap_token_list(env: &Env, out: OutputFormat) -> Result<ExitCode> {
    let tokens = env.store.enrollment().list_bootstrap_tokens(10_000).await?;
    #[derive(Serialize)]
    struct V {
        id: String,
        profile: String,
        names: Vec<String>,
        uses: i64,
        max_uses: i64,
        expires_at: String,
        owner: Option<String>,
        revoked: bool,
    }
    let rows: Vec<V> = tokens
        .into_iter()
        .map(|t| V {
            id: t.id,
            profile: t.profile,
            names: t.names,
            uses: t.uses,
            max_uses: t.max_uses,
            expires_at: moor_authority::acme::service::rfc3339(t.expires_at),
            owner: t.owner,
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    print(out, &rows, |rows| {
        let mut s = String::new();
        for r in rows {
            s.push_str(&format!(
                "{}  {}  {}/{} used  until {}{}  {}\n",
                r.id,
                r.profile,
                r.uses,
                r.max_uses,
                r.expires_at,
                if r.revoked { "  REVOKED" } else { "" },
                r.names.join(",")
            ));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

async fn bootstrap_token_revoke(env: &Env, out: OutputFormat, id: &str) -> Result<ExitCode> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    auth.revoke_bootstrap_token(&Requester::cli(), id).await?;
    #[derive(Serialize)]
    struct V<'a> {
        revoked: &'a str,
    }
    print(out, &V { revoked: id }, |v| {
        format!("revoked {}\n", v.revoked)
    });
    Ok(ExitCode::SUCCESS)
}

async fn renew_now(env: &Env, out: OutputFormat, a: crate::cli::RenewNowArgs) -> Result<ExitCode> {
    use moor_authority::acme::service::{AcmeService, RenewalSelector, rfc3339};
    let window = moor_core::profile::parse_duration(&a.window)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .with_context(|| format!("--window {:?} is not a duration like 1h or 30m", a.window))?;
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    let o = AcmeService::override_renewal(
        &auth,
        &Requester::cli(),
        RenewalSelector {
            issuer_id: a.issuer,
            profile: a.profile,
            serial_hex: a.serial,
        },
        window,
        &a.reason,
    )
    .await?;
    #[derive(Serialize)]
    struct V {
        id: String,
        issuer: Option<String>,
        profile: Option<String>,
        serial: Option<String>,
        window_start: String,
        window_end: String,
    }
    let v = V {
        id: o.id,
        issuer: o.issuer_id,
        profile: o.profile,
        serial: o.serial_hex,
        window_start: rfc3339(o.window_start),
        window_end: rfc3339(o.window_end),
    };
    print(out, &v, |v| {
        format!(
            "renewal window of the selected certificates: {} to {} (override {})\n",
            v.window_start, v.window_end, v.id
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn eab_create(env: &Env, out: OutputFormat, profile: Option<&str>) -> Result<ExitCode> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = wiring::authority(env, &pass).await?;
    if let Some(p) = profile
        && !auth.profiles().contains_key(p)
    {
        bail!("no profile named {p:?}");
    }
    let eab =
        moor_authority::acme::service::AcmeService::create_eab(&auth, &Requester::cli(), profile)
            .await?;
    #[derive(Serialize)]
    struct V {
        kid: String,
        hmac_key: String,
        profile: Option<String>,
    }
    let v = V {
        kid: eab.kid.clone(),
        hmac_key: moor_core::acme::b64url_encode(&eab.mac_key),
        profile: eab.directory.clone(),
    };
    print(out, &v, |v| {
        format!("kid: {}\nhmac_key: {}\n", v.kid, v.hmac_key)
    });
    Ok(ExitCode::SUCCESS)
}

async fn agent(out: OutputFormat, a: AgentCommand) -> Result<ExitCode> {
    match a {
        AgentCommand::Run { config, once } => {
            let cfg = moor_agent::AgentConfig::load(&config)?;
            let mut agent = moor_agent::Agent::new(cfg)?;
            if !once {
                agent.run_forever().await;
            }
            let outcomes = agent.pass().await;
            let failed = outcomes
                .iter()
                .any(|(_, o)| matches!(o, moor_agent::Outcome::Failed { .. }));
            #[derive(Serialize)]
            struct V {
                name: String,
                outcome: String,
            }
            let rows: Vec<V> = outcomes
                .into_iter()
                .map(|(name, o)| V {
                    name,
                    outcome: format!("{o:?}"),
                })
                .collect();
            print(out, &rows, |rows| {
                rows.iter()
                    .map(|r| format!("{}: {}\n", r.name, r.outcome))
                    .collect()
            });
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        AgentCommand::Status { config } => {
            let cfg = moor_agent::AgentConfig::load(&config)?;
            let state = moor_agent::Agent::read_state(&cfg.state_file);
            let rows: Vec<moor_agent::CertStatus> = cfg
                .certificates
                .iter()
                .map(|c| {
                    let mut s = state.get(&c.name).cloned().unwrap_or_default();
                    s.name = c.name.clone();
                    if let Some((_, na, _)) = moor_agent::files::current(&c.cert) {
                        s.not_after = Some(na);
                    }
                    s
                })
                .collect();
            print(out, &rows, |rows| {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}: expires {}, renews {}, last: {}\n",
                            r.name,
                            r.not_after
                                .map(crate::output::rfc3339)
                                .unwrap_or_else(|| "-".into()),
                            r.renew_at
                                .map(crate::output::rfc3339)
                                .unwrap_or_else(|| "-".into()),
                            if r.last_result.is_empty() {
                                "-"
                            } else {
                                &r.last_result
                            }
                        )
                    })
                    .collect()
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}
