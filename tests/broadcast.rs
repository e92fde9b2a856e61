//! Broadcasts end to end through the real daemon: a mail to the broadcast address carries a
//! document and a spreadsheet (an .xlsx of 30 rows, 3 of them bad; then an .ods and an .xls
//! made by LibreOffice from another list): one fax per good row on the line, each with a cover
//! naming its row's recipient (Tesseract reads row 5's), the bad rows failed with their reasons,
//! and one report at the end whose spreadsheet calamine reads back with the right result per
//! row. A mail without a list is refused.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);

/// A mail to the broadcast address with `body` and the list `name` (`bytes`).
fn broadcast_mail(body: &str, name: &str, ctype: &str, bytes: &[u8]) -> Vec<u8> {
    String::from_utf8(message_with_attachment(
        "New prices",
        body,
        name,
        ctype,
        bytes,
    ))
    .unwrap()
    .replace(
        "To: Bob <0169293999@fax.localhost>",
        "To: broadcast@fax.localhost",
    )
    .into_bytes()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The list: a title row, the header row, then `rows` (number, name, company).
fn list(rows: &[(String, String, String)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Customers, December").unwrap();
    for (c, h) in ["Numéro de fax", "Name", "Company"].iter().enumerate() {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
    for (i, (number, name, company)) in rows.iter().enumerate() {
        let r = i as u32 + 2;
        sheet.write_string(r, 0, number).unwrap();
        sheet.write_string(r, 1, name).unwrap();
        sheet.write_string(r, 2, company).unwrap();
    }
    book.save_to_buffer().unwrap()
}

/// The one attachment of the report at `path`, by its name.
fn attachment(path: &std::path::Path, name: &str) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    mail.attachments()
        .find(|a| {
            use mail_parser::MimeHeaders;
            a.attachment_name() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {name} in {}", path.display()))
        .contents()
        .to_vec()
}

#[test]
fn a_broadcast_from_a_spreadsheet_faxes_each_good_row_and_reports_once() {
    use calamine::Reader;
    let hub = Faxhub::start(
        "broadcast_addresses = [\"broadcast@fax.localhost\"]\n",
        "[convert.cover]\nenabled = true\n",
    );
    // 30 rows: the 9th has no number, the 17th "n/a", the 24th a premium number
    let rows: Vec<(String, String, String)> = (1..=30)
        .map(|i| {
            let number = match i {
                9 => String::new(),
                17 => "n/a".into(),
                24 => "0899 12 34 56".into(),
                i => format!("01 69 29 {:02} {:02}", 30 + i / 10, i % 10 * 7),
            };
            (number, format!("Client {i}"), format!("Company {i}"))
        })
        .collect();
    let message = broadcast_mail(
        "Our new prices apply from January.",
        "customers.xlsx",
        XLSX,
        &list(&rows),
    );
    let reply = hub
        .smtp()
        .send_mail("alice@example.com", &["broadcast@fax.localhost"], &message);
    assert_eq!(reply.0, 250, "{reply:?}");
    let id = queued_id(&reply);
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(
        job["priority"], "low",
        "a broadcast is low priority by default"
    );
    assert_eq!(job["list"], "customers.xlsx");
    let recipients = job["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 30, "{job:#}");
    let done: Vec<&Value> = recipients
        .iter()
        .filter(|r| r["status"] == "done")
        .collect();
    assert_eq!(done.len(), 27, "{job:#}");
    assert_eq!(hub.outbox().len(), 27, "one fax per good row");
    let failed = |row: i64| {
        recipients
            .iter()
            .find(|r| r["list_row"] == row + 2)
            .unwrap_or_else(|| panic!("row {row}: {job:#}"))
    };
    assert_eq!(failed(9)["status"], "failed");
    assert!(
        failed(9)["reason"]
            .as_str()
            .unwrap()
            .ends_with("no fax number"),
        "{}",
        failed(9)
    );
    assert_eq!(failed(17)["status_code"], "5.1.3", "{}", failed(17));
    assert_eq!(failed(24)["status_code"], "5.7.1", "{}", failed(24));
    // the list is not faxed: the body, then nothing else
    assert_eq!(job["pages"], 1, "{job:#}");

    // row 5's cover names its recipient and company
    let row5 = recipients.iter().find(|r| r["list_row"] == 7).unwrap();
    assert_eq!(row5["display_name"], "Client 5");
    let digits = row5["number"]
        .as_str()
        .unwrap()
        .trim_start_matches('+')
        .to_string();
    let fax = hub
        .outbox()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&digits))
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cover = scratch.path().join("cover.tif");
    tiff_page(&fax, 0, &cover);
    let text = ocr_as(&cover, "6");
    assert!(text.contains("To Client 5"), "{text}");

    // one report, at the end, with every row
    let maildir = hub.data_dir().join("Maildir");
    let reports = mail::wait_for(&maildir, 1, WAIT, || hub.log());
    std::thread::sleep(Duration::from_secs(7)); // past the reporter's round
    let files = mail::messages(&maildir);
    assert_eq!(
        files.len(),
        1,
        "one report, not one per number: {reports:#?}"
    );
    let subject = reports[0]["headers"]["Subject"].as_str().unwrap();
    assert_eq!(subject, "Broadcast report: New prices (27 of 30 delivered)");
    let text = reports[0]["text"].as_str().unwrap();
    for line in [
        "Row 7: +33169293035 Client 5 (Company 5): delivered, 2 page(s)",
        "Row 11: (no number) Client 9: FAILED (5.1.3): row 11: no fax number",
        "Row 19: n/a Client 17: FAILED (5.1.3): row 19: <n/a>: \"n/a\" is not a fax number",
        "Row 26: 0899 12 34 56 Client 24: FAILED (5.7.1): row 26: <0899 12 34 56>: +33899123456 is denied",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    let book = attachment(&files[0], "broadcast-report.xlsx");
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(book)).unwrap();
    let sheet = book.worksheet_range("Broadcast").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        cells[0][..5],
        ["Row", "Name", "Company", "Number", "Result"]
    );
    assert_eq!(cells.len(), 31, "{cells:?}");
    for (i, row) in cells[1..].iter().enumerate() {
        let bad = [9, 17, 24].contains(&(i + 1));
        assert_eq!(row[0], (i + 3).to_string(), "{row:?}");
        assert_eq!(row[1], format!("Client {}", i + 1), "{row:?}");
        assert_eq!(row[4], if bad { "failed" } else { "delivered" }, "{row:?}");
    }
}

#[test]
fn a_broadcast_list_in_opendocument_or_excel_97_and_a_mail_without_a_list() {
    let hub = Faxhub::start("broadcast_addresses = [\"broadcast@fax.localhost\"]\n", "");
    let scratch = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, String)> = (1..=3)
        .map(|i| {
            (
                format!("01 69 29 40 0{i}"),
                format!("Client {i}"),
                String::new(),
            )
        })
        .collect();
    let xlsx = scratch.path().join("list.xlsx");
    std::fs::write(&xlsx, list(&rows)).unwrap();
    // the same list as LibreOffice saves it in OpenDocument and in Excel 97 (.xls)
    for format in ["ods", "xls:MS Excel 97"] {
        let ok = std::process::Command::new("soffice")
            .args(["--headless", "--convert-to", format, "--outdir"])
            .arg(scratch.path())
            .arg(&xlsx)
            .env("HOME", scratch.path())
            .status()
            .unwrap();
        assert!(ok.success(), "soffice --convert-to {format}");
    }
    for (name, ctype) in [
        ("list.ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("list.xls", "application/vnd.ms-excel"),
    ] {
        let bytes = std::fs::read(scratch.path().join(name)).unwrap();
        let message = broadcast_mail("Hello.", name, ctype, &bytes);
        let id = queued_id(&hub.smtp().send_mail(
            "alice@example.com",
            &["broadcast@fax.localhost"],
            &message,
        ));
        let job = hub.wait_finished(&id, WAIT);
        let numbers: Vec<&str> = job["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "done")
            .map(|r| r["number"].as_str().unwrap())
            .collect();
        assert_eq!(
            numbers,
            ["+33169294001", "+33169294002", "+33169294003"],
            "{name}: {job:#}"
        );
    }

    // no list: refused, nothing queued
    let plain = text_message("New prices", "No list here.");
    let reply = hub
        .smtp()
        .send_mail("alice@example.com", &["broadcast@fax.localhost"], &plain);
    assert_eq!(reply.0, 550, "{reply:?}");
    assert!(
        reply.1.starts_with("5.6.0") && reply.1.contains("attach a spreadsheet"),
        "{reply:?}"
    );
}

/// `faxhub send --to-list`: the same broadcast from the command line.
#[test]
fn faxhub_send_to_list_broadcasts_a_spreadsheet() {
    let hub = Faxhub::start("", "");
    let scratch = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, String)> = [
        ("01 69 29 41 01", "Ann"),
        ("", "Bob"),
        ("01 69 29 41 03", "Cy"),
    ]
    .iter()
    .map(|(n, name)| (n.to_string(), name.to_string(), String::new()))
    .collect();
    let list_file = scratch.path().join("clients.xlsx");
    std::fs::write(&list_file, list(&rows)).unwrap();
    let doc = scratch.path().join("prices.txt");
    std::fs::write(&doc, "Our new prices.").unwrap();
    let out = hub.cli(&[
        "send",
        "--to-list",
        list_file.to_str().unwrap(),
        "--from",
        "alice@example.com",
        doc.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(
        (job["priority"].as_str(), job["list"].as_str()),
        (Some("low"), Some("clients.xlsx"))
    );
    let r = job["recipients"].as_array().unwrap();
    let outcome: Vec<(i64, &str)> = r
        .iter()
        .map(|r| {
            (
                r["list_row"].as_i64().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        [(3, "done"), (5, "done"), (4, "failed")],
        "{job:#}"
    );
    let reports = mail::wait_for(&hub.data_dir().join("Maildir"), 1, WAIT, || hub.log());
    assert_eq!(
        reports[0]["headers"]["Subject"],
        "Broadcast report: prices.txt (2 of 3 delivered)"
    );
    // a list with no usable row: a one-line error, nothing queued
    let empty: Vec<(String, String, String)> =
        vec![(String::new(), "Nobody".into(), String::new())];
    std::fs::write(&list_file, list(&empty)).unwrap();
    let bad = hub.cli(&[
        "send",
        "--to-list",
        list_file.to_str().unwrap(),
        doc.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no row has a number"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
