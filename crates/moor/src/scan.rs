//! `moor scan …`: discovery scans (TLS endpoints, files), printed or reported to a server.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::cli::*;
use crate::output::{print, rfc3339};

/// Run a scan command.
pub async fn run(out: OutputFormat, cmd: ScanCommand) -> Result<ExitCode> {
    match cmd {
        ScanCommand::Tls(a) => scan_tls(out, a).await,
        ScanCommand::Files(a) => scan_files(out, a).await,
    }
}

async fn scan_tls(out: OutputFormat, a: ScanTlsArgs) -> Result<ExitCode> {
    use moor_agent::scan;

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
    let reporter = Reporter::new(&a.report)?;
    let endpoints = scan::expand(&targets, &ports, a.sni.as_deref()).await?;
    let bar = progress_bar(endpoints.len(), "endpoints");
    let results =
        scan::scan_tls(endpoints, &options, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    if let Some(reporter) = reporter {
        let report = scan::Report {
            host: host_name(None),
            tls: results,
            ..Default::default()
        };
        return reporter.send(out, &report).await;
    }
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

async fn scan_files(out: OutputFormat, a: ScanFilesArgs) -> Result<ExitCode> {
    use moor_agent::scan;

    let options = scan::FileScanOptions {
        max_files: a.max_files,
        ..Default::default()
    };
    options.validate()?;
    let reporter = Reporter::new(&a.report)?;
    let host = host_name(a.host.as_deref());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let paths = a.paths;
    let bar = progress_bar(0, "files");
    let progress = bar.clone();
    let found = tokio::task::spawn_blocking(move || {
        scan::scan_files(&paths, &options, now, |done, total| {
            progress.set_length(total as u64);
            progress.set_position(done as u64);
        })
    })
    .await
    .context("the file scan failed")??;
    bar.finish_and_clear();
    if found.truncated {
        eprintln!(
            "warning: stopped after {} files (--max-files); the rest was not scanned",
            found.walked
        );
    }
    if let Some(reporter) = reporter {
        // A walk cut short must not make the server think the files it did not reach
        // are gone: no roots then.
        if found.truncated {
            eprintln!("warning: the report names no roots, so no file is marked gone");
        }
        let report = scan::Report {
            host,
            file_roots: if found.truncated {
                Vec::new()
            } else {
                found.roots
            },
            files: found.files,
            ..Default::default()
        };
        return reporter.send(out, &report).await;
    }
    print(out, &found.files, |rows| {
        rows.iter()
            .flat_map(|f| {
                let mut lines = Vec::new();
                let note = f
                    .error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default();
                for c in &f.certificates {
                    let date = rfc3339(c.not_after).chars().take(10).collect::<String>();
                    lines.push(format!(
                        "{}  {}  certificate  {}  {}{}  {}\n",
                        f.path,
                        f.format,
                        if c.subject.is_empty() {
                            "-"
                        } else {
                            &c.subject
                        },
                        date,
                        if c.expired { " (expired)" } else { "" },
                        if c.key_algorithm.is_empty() {
                            "-"
                        } else {
                            &c.key_algorithm
                        },
                    ));
                }
                for k in &f.ssh {
                    lines.push(format!(
                        "{}  {}  {}  {}  {}  {}\n",
                        f.path,
                        f.format,
                        k.kind,
                        k.key_algorithm,
                        k.fingerprint,
                        if k.comment.is_empty() {
                            "-"
                        } else {
                            &k.comment
                        },
                    ));
                }
                if let Some(k) = &f.private_key {
                    lines.push(format!(
                        "{}  {}  private-key  {}  mode {:04o}  uid {}{}\n",
                        f.path,
                        f.format,
                        k.key_type,
                        k.mode,
                        k.uid,
                        if k.readable_by_others {
                            "  readable by others"
                        } else {
                            ""
                        },
                    ));
                }
                if lines.is_empty() || !note.is_empty() {
                    lines.push(format!("{}  {}{note}\n", f.path, f.format));
                }
                lines
            })
            .collect()
    });
    Ok(ExitCode::SUCCESS)
}

/// Sends a report when `--report-to` was given: the checks are made before scanning.
struct Reporter {
    url: String,
    token: String,
    roots_pem: Vec<u8>,
}

impl Reporter {
    fn new(a: &ScanReportArgs) -> Result<Option<Reporter>> {
        let Some(url) = &a.report_to else {
            return Ok(None);
        };
        let Some(token) = a.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            bail!("--report-to needs an admin token (--token or MOOR_TOKEN)");
        };
        let Some(bundle) = &a.ca_bundle else {
            bail!("--report-to needs --ca-bundle: the server's roots.pem");
        };
        let roots_pem =
            std::fs::read(bundle).with_context(|| format!("--ca-bundle {}", bundle.display()))?;
        Ok(Some(Reporter {
            url: url.clone(),
            token: token.to_string(),
            roots_pem,
        }))
    }

    async fn send(self, out: OutputFormat, report: &moor_agent::scan::Report) -> Result<ExitCode> {
        let ack =
            moor_agent::scan::post_report(&self.url, &self.token, &self.roots_pem, report).await?;
        print(out, &ack, |a| {
            format!(
                "reported: {} certificates ({} new), {} locations ({} gone), {} OpenSSH keys, {} private-key files\n",
                a.certificates, a.new, a.locations, a.gone, a.ssh_keys, a.key_files
            )
        });
        Ok(ExitCode::SUCCESS)
    }
}

/// A progress bar on stderr when it is a terminal (hidden otherwise); `total` 0 until
/// known.
fn progress_bar(total: usize, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {what} ({{elapsed}})"
    )) {
        bar.set_style(style);
    }
    bar
}

/// `--host`, else this machine's host name.
fn host_name(given: Option<&str>) -> String {
    if let Some(h) = given {
        return h.to_string();
    }
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
