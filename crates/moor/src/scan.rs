//! `moor scan …`: discovery scans (TLS endpoints, files), printed or reported to a server.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::*;
use crate::output::{print, rfc3339};

/// Run a scan command.
pub async fn run(out: OutputFormat, cmd: ScanCommand) -> Result<ExitCode> {
    match cmd {
        ScanCommand::Tls(a) => scan_tls(out, a).await,
    }
}

async fn scan_tls(out: OutputFormat, a: ScanTlsArgs) -> Result<ExitCode> {
    use moor_agent::scan;
    use std::io::IsTerminal as _;

    let targets = scan::parse_targets(&a.targets)?;
    let ports = scan::parse_ports(&a.ports)?;
    if let Some(sni) = &a.sni
        && !matches!(
            rustls::pki_types::ServerName::try_from(sni.as_str()),
            Ok(rustls::pki_types::ServerName::DnsName(_))
        )
    {
        bail!(
            "bad --sni {:?}: not a DNS name",
            sni.chars().take(80).collect::<String>()
        );
    }
    let options = scan::ScanOptions {
        concurrency: a.concurrency,
        timeout: scan::parse_duration(&a.timeout)?,
    };
    options.validate()?;
    let endpoints = scan::expand(&targets, &ports, a.sni.as_deref()).await?;
    let tty = std::io::stderr().is_terminal();
    let results = scan::scan_tls(endpoints, &options, |done, total| {
        if tty {
            eprint!("\rscanned {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    })
    .await?;
    print(out, &results, |rows| {
        rows.iter()
            .map(|r| {
                let mut endpoint = if r.address.contains(':') {
                    format!("[{}]:{}", r.address, r.port)
                } else {
                    format!("{}:{}", r.address, r.port)
                };
                if let Some(sni) = &r.sni {
                    endpoint.push_str(&format!(" ({sni})"));
                }
                let leaf = r.chain.first();
                let date = |ts: i64| rfc3339(ts).chars().take(10).collect::<String>();
                format!(
                    "{endpoint}  {}  {}  {}  {}\n",
                    leaf.map(|c| c.subject.as_str())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("-"),
                    leaf.map(|c| if c.expired {
                        format!("{} (expired)", date(c.not_after))
                    } else {
                        date(c.not_after)
                    })
                    .unwrap_or_else(|| "-".into()),
                    leaf.map(|c| c.key_algorithm.as_str())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("-"),
                    r.error.as_deref().unwrap_or("ok"),
                )
            })
            .collect()
    });
    Ok(ExitCode::SUCCESS)
}
