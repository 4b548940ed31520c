//! CSV export of inventory items (the REST API's `format=csv` and `moor certs search --csv`).

use moor_store::inventory::InventoryItem;

use super::InventoryService;

/// The header row.
pub const CSV_HEADER: &str = "fingerprint,kind,source,status,subject,sans,issuer,serial,key_algorithm,signature_algorithm,not_before,not_after,owner,team,labels,first_seen,last_seen\r\n";

/// One CSV field: quoted when needed, and a leading `= + - @` defused (spreadsheet
/// formula injection).
fn csv_field(out: &mut String, v: &str) {
    let defuse = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if defuse || v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if defuse {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

pub fn csv_row(out: &mut String, i: &InventoryItem, inv: &InventoryService) {
    let now = inv.now();
    let status = i.status_at(now, inv.expiring_window()).as_str();
    let labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let opt = |v: Option<i64>| v.map(|t| t.to_string()).unwrap_or_default();
    let fields: [&str; 17] = [
        &i.fingerprint,
        &i.kind,
        &i.source,
        status,
        &i.subject,
        &i.sans.join(" "),
        &i.issuer,
        &i.serial_hex,
        &i.key_algorithm,
        &i.signature_algorithm,
        &i.not_before.to_string(),
        &i.not_after.to_string(),
        i.owner.as_deref().unwrap_or(""),
        i.team.as_deref().unwrap_or(""),
        &labels.join(" "),
        &opt(i.first_seen),
        &opt(i.last_seen),
    ];
    for (n, f) in fields.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1", "\"'+1\""),
            ("-1", "\"'-1\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("line\nbreak", "\"line\nbreak\""),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            csv_field(&mut out, input);
            assert_eq!(out, want, "{input:?}");
        }
    }
}
