//! `moor certs search|item|tag|act` and `moor findings`: the inventory from the CA host.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use moor_authority::Requester;
use moor_authority::inventory::InventoryService;
use moor_authority::inventory::actions::GroupAction;
use moor_store::inventory::{InventoryItem, ItemUpdate};
use serde::Serialize;

use crate::cli::*;
use crate::output::{print, rfc3339};
use crate::wiring::{self, Env};

/// The most items `--all` gathers.
const MAX_ALL: usize = 100_000;

async fn service(env: &Env) -> Result<InventoryService> {
    let (pass, _) = wiring::passphrase(env, false)?;
    let auth = Arc::new(wiring::authority(env, &pass).await?);
    Ok(InventoryService::new(
        auth,
        env.config.inventory.clone(),
        env.config.alerts.clone(),
    )?)
}

fn date(ts: i64) -> String {
    rfc3339(ts).chars().take(10).collect()
}

pub async fn search(env: &Env, out: OutputFormat, a: SearchArgs) -> Result<ExitCode> {
    let inv = service(env).await?;
    let mut items: Vec<InventoryItem> = Vec::new();
    let mut after = a.after.clone();
    let next = loop {
        let page = inv.search(&a.query, after, a.limit.clamp(1, 1000)).await?;
        items.extend(page.items);
        if items.len() > MAX_ALL {
            bail!("more than {MAX_ALL} items: narrow the query");
        }
        match page.next {
            Some(n) if a.all => after = Some(n),
            other => break other,
        }
    };
    if a.csv {
        let mut csv = String::from(moor_authority::inventory::export::CSV_HEADER);
        for i in &items {
            moor_authority::inventory::export::csv_row(&mut csv, i, &inv);
        }
        print!("{csv}");
        if let Some(n) = next {
            eprintln!("more: --after {n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    #[derive(Serialize)]
    struct V {
        items: Vec<Row>,
        next: Option<String>,
    }
    #[derive(Serialize)]
    struct Row {
        #[serde(flatten)]
        item: InventoryItem,
        status: &'static str,
    }
    let now = inv.now();
    let v = V {
        items: items
            .into_iter()
            .map(|i| Row {
                status: i.status_at(now, inv.expiring_window()).as_str(),
                item: i,
            })
            .collect(),
        next,
    };
    print(out, &v, |v| {
        let mut s = String::new();
        for r in &v.items {
            let i = &r.item;
            let name = if i.subject.is_empty() {
                i.sans.first().cloned().unwrap_or_default()
            } else {
                i.subject.clone()
            };
            s.push_str(&format!(
                "{}  {:<10} {:<10} {}  {}  {}  {}\n",
                i.fingerprint.get(..16).unwrap_or(&i.fingerprint),
                r.status,
                i.source,
                if i.not_after == i64::MAX {
                    "-".to_string()
                } else {
                    date(i.not_after)
                },
                name,
                i.sans.join(","),
                i.owner.as_deref().unwrap_or("-"),
            ));
        }
        if let Some(n) = &v.next {
            s.push_str(&format!("more: --after {n}\n"));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

pub async fn item(env: &Env, out: OutputFormat, fingerprint: &str) -> Result<ExitCode> {
    let inv = service(env).await?;
    let d = inv.item(fingerprint).await?;
    print(out, &d, |d| {
        let i = &d.item;
        let mut s = format!(
            "fingerprint: {}\nkind:        {}\nsource:      {}\nstatus:      {}\nsubject:     {}\nissuer:      {}\nserial:      {}\nSANs:        {}\nkey:         {}\nsignature:   {}\nnot after:   {}\nowner:       {}\nteam:        {}\nlabels:      {}\n",
            i.fingerprint,
            i.kind,
            i.source,
            d.status.as_str(),
            i.subject,
            i.issuer,
            i.serial_hex,
            i.sans.join(", "),
            i.key_algorithm,
            i.signature_algorithm,
            if i.not_after == i64::MAX {
                "-".into()
            } else {
                rfc3339(i.not_after)
            },
            i.owner.as_deref().unwrap_or("-"),
            i.team.as_deref().unwrap_or("-"),
            i.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        for l in &d.locations {
            s.push_str(&format!(
                "location:    {} {}{}{}  first {}  last {}{}\n",
                l.kind,
                if l.kind == "file" {
                    format!("{}:", l.host)
                } else {
                    String::new()
                },
                l.endpoint,
                if l.sni.is_empty() {
                    String::new()
                } else {
                    format!(" (SNI {})", l.sni)
                },
                date(l.first_seen),
                date(l.last_seen),
                l.gone_at
                    .map(|g| format!("  gone {}", date(g)))
                    .unwrap_or_default(),
            ));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

pub async fn tag(env: &Env, out: OutputFormat, a: TagArgs) -> Result<ExitCode> {
    let inv = service(env).await?;
    let clear = |v: Option<String>| v.map(|s| if s.is_empty() { None } else { Some(s) });
    let labels = if a.labels.is_empty() && a.unlabel.is_empty() {
        None
    } else {
        let mut labels = inv.item(&a.fingerprint).await?.item.labels;
        for l in &a.labels {
            let Some((k, v)) = l.split_once('=') else {
                bail!("--label {l:?} is not name=value");
            };
            labels.insert(k.to_owned(), v.to_owned());
        }
        for k in &a.unlabel {
            labels.remove(k);
        }
        Some(labels)
    };
    let item = inv
        .update(
            &Requester::cli(),
            &a.fingerprint,
            ItemUpdate {
                owner: clear(a.owner),
                team: clear(a.team),
                labels,
            },
        )
        .await?;
    print(out, &item, |i| {
        format!(
            "{}: owner {}, team {}, labels {}\n",
            i.fingerprint,
            i.owner.as_deref().unwrap_or("-"),
            i.team.as_deref().unwrap_or("-"),
            i.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    });
    Ok(ExitCode::SUCCESS)
}

pub async fn act(env: &Env, out: OutputFormat, a: ActArgs) -> Result<ExitCode> {
    use std::io::IsTerminal as _;
    let action = match (a.revoke, a.renew) {
        (true, false) => GroupAction::Revoke {
            reason: moor_authority::revoke::parse_reason(&a.reason)?,
        },
        (false, true) => {
            let window = moor_core::profile::parse_duration(&a.window)
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("--window {:?} is not a duration like 1d", a.window)
                })?;
            GroupAction::Renew {
                window_secs: window,
            }
        }
        _ => bail!("choose --revoke or --renew"),
    };
    let inv = service(env).await?;
    let tty = std::io::stderr().is_terminal();
    let r = inv
        .group_action(
            &Requester::cli(),
            &a.query,
            action,
            !a.yes,
            a.selection.as_deref(),
            |done, total| {
                if tty {
                    eprint!("\r{done}/{total}");
                    if done == total {
                        eprintln!();
                    }
                }
            },
        )
        .await?;
    print(out, &r, |r| {
        let mut s = String::new();
        for t in &r.targets {
            s.push_str(&format!(
                "{}  {}  {}  {}\n",
                t.fingerprint.get(..16).unwrap_or(&t.fingerprint),
                t.serial,
                if t.subject.is_empty() {
                    "-"
                } else {
                    &t.subject
                },
                t.outcome
            ));
        }
        if r.dry_run {
            s.push_str(&format!(
                "dry run: {} selected, {} would be acted on; to do it add: --yes --selection {}\n",
                r.selected, r.actionable, r.selection
            ));
        } else {
            s.push_str(&format!(
                "{} selected, {} done, {} failed\n",
                r.selected, r.done, r.failed
            ));
        }
        s
    });
    Ok(if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn findings(env: &Env, out: OutputFormat, a: FindingsArgs) -> Result<ExitCode> {
    let kinds = moor_authority::inventory::findings::parse_kinds(a.kind.as_deref())?;
    let inv = service(env).await?;
    let f = inv.findings(&kinds, a.limit).await?;
    print(out, &f, |f| {
        let mut s = String::new();
        for x in f {
            s.push_str(&format!(
                "{:<8} {:<17} {}\n         owner: {}  at: {}\n         do: {}\n",
                x.severity,
                x.kind.as_str(),
                x.detail,
                x.owner.as_deref().unwrap_or("-"),
                if x.locations.is_empty() {
                    "-".into()
                } else {
                    x.locations.join(", ")
                },
                x.action
            ));
        }
        if f.is_empty() {
            s.push_str("no findings\n");
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}
