//! Printing for people (`--output text`) and scripts (`--output json`).

use serde::Serialize;

use crate::cli::OutputFormat;

/// Print `value` as pretty JSON, or with `text` for people.
pub fn print<T: Serialize>(format: OutputFormat, value: &T, text: impl FnOnce(&T) -> String) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
        ),
        OutputFormat::Text => print!("{}", text(value)),
    }
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}
