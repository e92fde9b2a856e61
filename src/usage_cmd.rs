//! `faxhub usage --month 2026-11 [--by sender|billing|line] [--csv | --xlsx FILE]`: what the
//! fax lines were used for in a month (of the server's local time), per sender, billing code or
//! line: calls placed, faxes delivered, permanent failures, pages, minutes on the line, and a
//! total. The numbers are the store's (`Store::line_usage`: the calls that started in the
//! month); grouping, the month's bounds and the formats are here, pure but for the output.

use crate::Failure;
use crate::config::Config;
use chrono::{Local, NaiveDate, TimeZone};
use faxhub_queue::store::UsageRow;
use std::collections::BTreeMap;
use std::path::Path;

/// What the rows are grouped by.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Sender,
    Billing,
    Line,
}

impl By {
    fn heading(self) -> &'static str {
        match self {
            By::Sender => "sender",
            By::Billing => "billing",
            By::Line => "line",
        }
    }

    fn key(self, row: &UsageRow) -> String {
        match self {
            By::Sender if row.sender.is_empty() => "<>".into(),
            By::Sender => row.sender.clone(),
            By::Billing => row.billing.clone().unwrap_or_default(),
            By::Line => row.line.clone(),
        }
    }
}

/// One group's use: calls, delivered, failed, pages, milliseconds on the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub calls: i64,
    pub delivered: i64,
    pub failed: i64,
    pub pages: i64,
    pub line_ms: i64,
}

impl Totals {
    fn add(&mut self, row: &UsageRow) {
        self.calls += row.calls;
        self.delivered += row.delivered;
        self.failed += row.failed;
        self.pages += row.pages;
        self.line_ms += row.line_ms;
    }

    /// Minutes on the line, to a tenth.
    fn minutes(&self) -> f64 {
        (self.line_ms as f64 / 6_000.0).round() / 10.0
    }
}

const COLUMNS: [&str; 5] = ["calls", "faxes", "failed", "pages", "minutes"];

pub async fn run(
    config: &Config,
    month: &str,
    by: By,
    csv: bool,
    xlsx: Option<&Path>,
) -> Result<(), Failure> {
    let (from, to) = month_bounds(month, &Local).map_err(Failure::Usage)?;
    let store = crate::daemon::open_store(config).await?;
    let rows = store
        .line_usage(from, to)
        .await
        .map_err(|e| Failure::Runtime(format!("reading the store: {e}")))?;
    let groups = group(&rows, by);
    if let Some(path) = xlsx {
        let bytes = spreadsheet(&groups, by, month).map_err(Failure::Runtime)?;
        return std::fs::write(path, bytes)
            .map_err(|e| Failure::Runtime(format!("{}: {e}", path.display())));
    }
    let text = match csv {
        true => comma_separated(&groups, by).map_err(Failure::Runtime)?,
        false => table(&groups, by, month),
    };
    print!("{text}");
    Ok(())
}

/// The month `yyyy-mm` as milliseconds `[first instant, first instant of the next)` in `tz`.
pub fn month_bounds<Tz: TimeZone>(month: &str, tz: &Tz) -> Result<(i64, i64), String> {
    let bad = || format!("--month {month:?}: give a month as 2026-11");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    let next = match m {
        12 => NaiveDate::from_ymd_opt(y + 1, 1, 1),
        _ => NaiveDate::from_ymd_opt(y, m + 1, 1),
    }
    .ok_or_else(bad)?;
    let start = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // a midnight a clock change skips: the first instant after it
        tz.from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.timestamp_millis())
            .ok_or_else(bad)
    };
    Ok((start(first)?, start(next)?))
}

/// The rows summed per group (in the group's order), then the total.
pub fn group(rows: &[UsageRow], by: By) -> (Vec<(String, Totals)>, Totals) {
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for row in rows {
        groups.entry(by.key(row)).or_default().add(row);
        total.add(row);
    }
    (groups.into_iter().collect(), total)
}

fn values(t: &Totals) -> [String; 5] {
    [
        t.calls.to_string(),
        t.delivered.to_string(),
        t.failed.to_string(),
        t.pages.to_string(),
        format!("{:.1}", t.minutes()),
    ]
}

fn table((groups, total): &(Vec<(String, Totals)>, Totals), by: By, month: &str) -> String {
    if groups.is_empty() {
        return format!("No call in {month}.\n");
    }
    let width = groups
        .iter()
        .map(|(k, _)| k.chars().count())
        .chain([by.heading().len(), 5])
        .max()
        .unwrap_or(5);
    let line = |key: &str, cells: [String; 5]| {
        let cells: Vec<String> = cells.iter().map(|c| format!("{c:>8}")).collect();
        format!("{key:<width$}  {}\n", cells.join(" "))
    };
    let mut out = line(&by.heading().to_uppercase(), COLUMNS.map(str::to_uppercase));
    for (key, t) in groups {
        let shown = if key.is_empty() { "(none)" } else { key };
        out.push_str(&line(shown, values(t)));
    }
    out.push_str(&line("TOTAL", values(total)));
    out
}

fn comma_separated(
    (groups, total): &(Vec<(String, Totals)>, Totals),
    by: By,
) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| e.to_string();
    w.write_record(std::iter::once(by.heading()).chain(COLUMNS))
        .map_err(fail)?;
    for (key, t) in groups {
        w.write_record(std::iter::once(defused(key)).chain(values(t)))
            .map_err(fail)?;
    }
    w.write_record(std::iter::once("TOTAL".to_string()).chain(values(total)))
        .map_err(fail)?;
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// A cell a spreadsheet program would take for a formula (`=`, `+`, `-`, `@`, a tab or CR
/// first: CSV injection) made plain text with a leading `'`. Codes and senders come from mail.
fn defused(cell: &str) -> String {
    match cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{cell}"),
        false => cell.to_string(),
    }
}

fn spreadsheet(
    (groups, total): &(Vec<(String, Totals)>, Totals),
    by: By,
    month: &str,
) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(format!("Usage {month}")).map_err(fail)?;
    let bold = Format::new().set_bold();
    sheet
        .write_string_with_format(0, 0, by.heading(), &bold)
        .map_err(fail)?;
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16 + 1, *name, &bold)
            .map_err(fail)?;
    }
    let rows =
        groups
            .iter()
            .map(|(k, t)| (k.as_str(), t, None))
            .chain([("TOTAL", total, Some(&bold))]);
    for (r, (key, t, format)) in rows.enumerate() {
        let r = r as u32 + 1;
        let numbers = [
            t.calls as f64,
            t.delivered as f64,
            t.failed as f64,
            t.pages as f64,
            t.minutes(),
        ];
        match format {
            Some(f) => sheet.write_string_with_format(r, 0, key, f),
            None => sheet.write_string(r, 0, key),
        }
        .map_err(fail)?;
        for (c, n) in numbers.iter().enumerate() {
            sheet.write_number(r, c as u16 + 1, *n).map_err(fail)?;
        }
    }
    book.save_to_buffer().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sender: &str, billing: Option<&str>, line: &str, n: i64) -> UsageRow {
        UsageRow {
            sender: sender.into(),
            billing: billing.map(str::to_string),
            line: line.into(),
            calls: n,
            delivered: n - 1,
            failed: 1,
            pages: 3 * n,
            line_ms: 60_000 * n,
        }
    }

    #[test]
    fn months_are_bounded_in_local_time_and_checked() {
        let utc = chrono::Utc;
        assert_eq!(
            month_bounds("2026-11", &utc).unwrap(),
            (1_793_491_200_000, 1_796_083_200_000)
        );
        let (_, dec_end) = month_bounds("2026-12", &utc).unwrap();
        assert_eq!(dec_end, month_bounds("2027-01", &utc).unwrap().0);
        let paris = chrono::FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            month_bounds("2026-11", &paris).unwrap().0,
            1_793_491_200_000 - 3_600_000
        );
        for bad in ["2026", "2026-13", "2026-0", "nov", "2026-11-01", ""] {
            assert!(month_bounds(bad, &utc).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_are_summed_per_group_with_a_total_in_every_format() {
        let rows = [
            row("a@x", Some("PRJ-1"), "sip", 2),
            row("a@x", None, "file", 1),
            row("b@x", Some("PRJ-1"), "sip", 4),
        ];
        let (groups, total) = group(&rows, By::Billing);
        let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["", "PRJ-1"]);
        assert_eq!(groups[1].1.calls, 6);
        assert_eq!(total.pages, 21);
        let by_line = group(&rows, By::Line);
        assert_eq!(by_line.0.len(), 2);
        let csv = comma_separated(&by_line, By::Line).unwrap();
        assert_eq!(
            csv,
            "line,calls,faxes,failed,pages,minutes\nfile,1,0,1,3,1.0\nsip,6,4,2,18,6.0\nTOTAL,7,4,3,21,7.0\n"
        );
        let text = table(&group(&rows, By::Billing), By::Billing, "2026-11");
        assert!(
            text.contains("(none)") && text.lines().last().unwrap().starts_with("TOTAL"),
            "{text}"
        );
        assert_eq!(
            table(&group(&[], By::Sender), By::Sender, "2026-11"),
            "No call in 2026-11.\n"
        );
        // a hostile code is one field, and text rather than a formula
        let odd = [row("a@x", Some("=HYPERLINK(\"x\"),1"), "sip", 1)];
        let csv = comma_separated(&group(&odd, By::Billing), By::Billing).unwrap();
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\"),1\""), "{csv}");
    }
}
