//! What the templates print: dates, durations, links, and bar charts as plain numbers
//! (the SVG is written by the template, every value escaped there).

use std::collections::BTreeMap;

/// One day, seconds.
pub(crate) const DAY: i64 = 86_400;

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub(crate) fn date(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => ts.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time.
pub(crate) fn datetime(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => ts.to_string(),
    }
}

/// An optional time, or a dash.
pub(crate) fn maybe_datetime(ts: Option<i64>) -> String {
    ts.map(datetime).unwrap_or_else(|| "—".into())
}

/// A duration for people: `45 s`, `12 min`, `5 h`, `3 d`.
pub(crate) fn duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let text = match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    };
    if secs < 0 { format!("-{text}") } else { text }
}

/// Percent-encode a query-string value (everything but RFC 3986 unreserved characters).
pub(crate) fn urlencode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inventory page searching for `q`.
pub(crate) fn search_href(q: &str) -> String {
    format!("/inventory?q={}", urlencode(q))
}

/// A bar chart of counts per day, laid out for an SVG `viewBox`.
pub(crate) struct Chart {
    /// The element id (`expiry-chart`, `issuance-chart`).
    pub id: &'static str,
    /// The accessible title.
    pub title: String,
    pub width: i64,
    pub height: i64,
    /// The bottom of the plot (the x axis), y.
    pub base: i64,
    /// The left edge of the plot, x.
    pub left: i64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    /// The largest day's count (the top of the y axis).
    pub max: i64,
    pub total: i64,
}

/// One day's bar (only days with a count have one).
pub(crate) struct Bar {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    /// `2026-12-01: 3`.
    pub label: String,
}

/// A date under the x axis.
pub(crate) struct Tick {
    pub x: i64,
    pub label: String,
}

const PLOT_W: i64 = 720;
const PLOT_H: i64 = 160;
const LEFT: i64 = 36;
const TOP: i64 = 10;
const BOTTOM: i64 = 24;

/// Lay out `days` consecutive days from `first_day` (a day start), with the counts of
/// `per_day` ((day start, count) pairs; others are ignored), a date tick every `tick_every`.
pub(crate) fn bar_chart(
    id: &'static str,
    title: String,
    first_day: i64,
    days: i64,
    per_day: &[(i64, i64)],
    tick_every: i64,
) -> Chart {
    let counts: BTreeMap<i64, i64> = per_day.iter().copied().collect();
    let days = days.clamp(1, 366);
    let slot = (PLOT_W / days).max(1);
    let max = counts
        .range(first_day..first_day + days * DAY)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(1);
    let base = TOP + PLOT_H;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    let mut total = 0;
    for i in 0..days {
        let day = first_day + i * DAY;
        let x = LEFT + i * slot;
        if i % tick_every.max(1) == 0 {
            ticks.push(Tick {
                x,
                label: date(day).get(5..).unwrap_or_default().to_string(),
            });
        }
        let n = counts.get(&day).copied().unwrap_or(0);
        if n <= 0 {
            continue;
        }
        total += n;
        let h = (n.saturating_mul(PLOT_H) / max).max(2);
        bars.push(Bar {
            x: x + 1,
            y: base - h,
            w: (slot - 2).max(1),
            h,
            label: format!("{}: {n}", date(day)),
        });
    }
    Chart {
        id,
        title,
        width: LEFT + days * slot + 30,
        height: base + BOTTOM,
        base,
        left: LEFT,
        bars,
        ticks,
        max,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_have_a_bar_per_counted_day_within_the_plot() {
        let c = bar_chart(
            "x",
            "t".into(),
            10 * DAY,
            90,
            &[(10 * DAY, 4), (12 * DAY, 1), (500 * DAY, 9)],
            15,
        );
        assert_eq!(c.bars.len(), 2);
        assert_eq!(c.total, 5);
        assert_eq!(c.max, 4);
        assert!(c.bars.iter().all(|b| b.y >= TOP && b.y + b.h == c.base));
        assert_eq!(c.ticks.len(), 6);
        assert_eq!(c.bars[1].label, "1970-01-13: 1");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            urlencode("status=expiring a&b"),
            "status%3Dexpiring%20a%26b"
        );
        assert_eq!(duration(90), "90 s");
        assert_eq!(duration(3 * 86_400), "3 d");
        assert_eq!(date(0), "1970-01-01");
    }
}
