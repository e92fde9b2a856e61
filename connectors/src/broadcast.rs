//! Broadcast lists: a spreadsheet (`.xlsx`, `.xls`, `.ods`, read with calamine) naming one
//! recipient per row. The header row (the first row naming a numbers' column, among the first
//! `HEADER_ROWS`: a title above the table is passed over) names the columns: the numbers' column by a header such as `Fax`, `Number`,
//! `Numéro`, `Fax-Nummer`; a name and a company column, if any, give each row's cover-page
//! fields. Every row below it with anything in it is a recipient, its spreadsheet row number kept
//! so that the report can name it; a row without a number is kept too (the caller refuses it,
//! named). Pure: bytes in, rows out.
//!
//! The spreadsheet comes from anyone who can mail the broadcast address: a ZIP-based one
//! declaring more than `MAX_UNPACKED`, or whose entries inflate past what they declare, is
//! refused before calamine unpacks it (a decompression bomb), the rows are bounded by the caller's `max_rows`, the columns looked at by
//! `MAX_COLUMNS`, and each cell's text by `MAX_CELL` characters.

use crate::addressing::Addressing;
use faxhub_queue::Notify;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{NewRecipient, RefusedRecipient};
use std::collections::HashMap;

/// How many rows may come before the header row.
pub const HEADER_ROWS: usize = 10;
/// Columns looked at for the headers.
pub const MAX_COLUMNS: usize = 64;
/// Characters kept of a cell.
pub const MAX_CELL: usize = 100;
/// A ZIP-based spreadsheet unpacking to more than this is refused (64 MiB).
pub const MAX_UNPACKED: u64 = 64 << 20;

/// One row of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    /// The spreadsheet's row number (1 for its first row).
    pub row: u32,
    /// As written; empty when the row has none.
    pub number: String,
    pub name: Option<String>,
    pub company: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    #[error("{name}: not a spreadsheet faxhub can read (.xlsx, .xls or .ods): {why}")]
    Unreadable { name: String, why: String },
    #[error("{name}: no column headed Fax, Number or Numéro in its first {HEADER_ROWS} rows")]
    NoNumbers { name: String },
    #[error("{name}: more than {max} rows (at most {max} numbers in one broadcast)")]
    TooManyRows { name: String, max: usize },
}

/// A list's rows as recipients, and the rows refused.
#[derive(Debug, Default)]
pub struct Resolved {
    pub recipients: Vec<NewRecipient>,
    pub refused: Vec<RefusedRecipient>,
}

/// Each row checked as an address at `domain` would be (parser, dial plan): a recipient with
/// its row, name and company, or refused naming its row (no number, one refused, a repeat of
/// an earlier row's number). `notice` is the NOTIFY and ORCPT each one gets.
pub fn resolve(
    addressing: &Addressing,
    rows: &[ListRow],
    domain: &str,
    notice: (Option<Notify>, Option<String>),
) -> Resolved {
    let mut out = Resolved::default();
    let mut first_of: HashMap<String, u32> = HashMap::new();
    let refuse = |row: &ListRow, status: EnhancedStatus, reason: String| RefusedRecipient {
        address: format!("row {}: {}", row.row, row.number),
        number: None,
        display_name: row.name.clone(),
        notify: notice.0,
        orcpt: notice.1.clone(),
        status,
        reason,
        list_row: Some(row.row),
    };
    for row in rows {
        if row.number.is_empty() {
            let reason = format!("row {}: no fax number", row.row);
            out.refused
                .push(refuse(row, EnhancedStatus::BAD_NUMBER, reason));
            continue;
        }
        let recipient = match addressing.recipient(&row.number, &row.number, domain) {
            Ok(r) => r,
            Err(refusal) => {
                let reason = format!("row {}: {refusal}", row.row);
                out.refused.push(refuse(row, refusal.status(), reason));
                continue;
            }
        };
        let number = recipient.number.as_str().to_string();
        if let Some(first) = first_of.get(&number) {
            let reason = format!("row {}: {number} is already on row {first}", row.row);
            out.refused
                .push(refuse(row, EnhancedStatus::BAD_NUMBER, reason));
            continue;
        }
        first_of.insert(number, row.row);
        out.recipients.push(NewRecipient {
            address: format!("{}@{domain}", recipient.number.as_str()),
            display_name: row.name.clone(),
            notify: notice.0,
            orcpt: notice.1.clone(),
            list_row: Some(row.row),
            company: row.company.clone(),
            ..recipient
        });
    }
    out
}

impl Resolved {
    /// Adds the recipients to `recipients` (a number already there is not added twice); its
    /// refused rows, or why the list gives nothing to fax (`list` names it).
    pub fn merge_into(
        self,
        recipients: &mut Vec<NewRecipient>,
        list: &str,
    ) -> Result<Vec<RefusedRecipient>, String> {
        for r in self.recipients {
            if recipients.iter().all(|known| known.number != r.number) {
                recipients.push(r);
            }
        }
        if recipients.is_empty() {
            let first = self
                .refused
                .first()
                .map_or(String::new(), |r| format!(" ({})", r.reason));
            return Err(format!(
                "{list}: no row has a number faxhub can dial{first}"
            ));
        }
        Ok(self.refused)
    }
}

/// Whether an attachment's name makes it a broadcast list.
pub fn is_list(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".xlsx", ".xls", ".ods"].iter().any(|e| lower.ends_with(e))
}

/// Header words, compared without case, accents, spaces or punctuation.
const NUMBER_HEADERS: &[&str] = &[
    "fax",
    "faxnumber",
    "faxno",
    "number",
    "numero",
    "nfax",
    "numerodefax",
    "numerofax",
    "telefax",
    "faxnummer",
    "nummer",
    "telecopie",
    "telecopieur",
    "faxnr",
];
const NAME_HEADERS: &[&str] = &[
    "name",
    "nom",
    "contact",
    "recipient",
    "destinataire",
    "empfanger",
    "empfaenger",
    "to",
];
const COMPANY_HEADERS: &[&str] = &[
    "company",
    "societe",
    "organisation",
    "organization",
    "firma",
    "entreprise",
    "unternehmen",
];

fn folded(header: &str) -> String {
    header
        .chars()
        .take(MAX_CELL)
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' | 'À' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' => 'e',
            'î' | 'ï' | 'Î' => 'i',
            'ô' | 'ö' | 'ó' | 'Ô' | 'Ö' => 'o',
            'ù' | 'û' | 'ü' | 'Ü' => 'u',
            'ç' | 'Ç' => 'c',
            'ß' => 's',
            c => c.to_ascii_lowercase(),
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn cell(data: &calamine::Data) -> String {
    let text = match data {
        // a number typed into a cell: written without a decimal point
        calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    };
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CELL)
        .collect();
    text.trim().to_string()
}

/// Checks that a ZIP archive unpacks to at most `limit` bytes: what its central directory
/// declares first (nothing unpacked), then what its entries really inflate to, each read
/// through a bound (a declared size can lie; the inflater cannot).
fn unpacked_within(bytes: &[u8], limit: u64) -> Result<(), String> {
    use std::io::Read;
    let bomb = |n: u64| {
        format!(
            "it would unpack to more than {} MB ({} MB or more; a decompression bomb?)",
            limit >> 20,
            n >> 20
        )
    };
    match faxhub_queue::files::zip_unpacked_size(bytes) {
        Some(n) if n > limit => return Err(bomb(n)),
        Some(_) => {}
        None => return Err("a damaged archive".into()),
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("a damaged archive: {e}"))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| format!("a damaged archive: {e}"))?;
        let room = limit.saturating_sub(total) + 1;
        // the zip crate stops an entry at its declared size: past it, a lying bomb
        let n = std::io::copy(&mut entry.take(room), &mut std::io::sink()).map_err(|e| match e
            .to_string()
            .contains("larger than its declared")
        {
            true => "an entry inflates past its declared size (a decompression bomb?)".to_string(),
            false => format!("a damaged archive: {e}"),
        })?;
        total += n;
        if total > limit {
            return Err(bomb(total));
        }
    }
    Ok(())
}

/// The rows of the list `name` (its first sheet).
pub fn read(name: &str, bytes: &[u8], max_rows: usize) -> Result<Vec<ListRow>, ListError> {
    use calamine::Reader;
    let unreadable = |why: String| ListError::Unreadable {
        name: name.to_string(),
        why,
    };
    if bytes.starts_with(b"PK\x03\x04") {
        unpacked_within(bytes, MAX_UNPACKED).map_err(unreadable)?;
    }
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| unreadable(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| unreadable("it has no sheet".into()))?
        .map_err(|e| unreadable(e.to_string()))?;
    let first_row = range.start().map_or(0, |(r, _)| r);
    let mut rows = range.rows().enumerate();
    let mut columns: Option<(usize, Option<usize>, Option<usize>)> = None;
    for (i, row) in rows.by_ref().take(HEADER_ROWS) {
        let headers: Vec<String> = row
            .iter()
            .take(MAX_COLUMNS)
            .map(|c| folded(&cell(c)))
            .collect();
        if headers.iter().all(String::is_empty) {
            continue;
        }
        let find = |set: &[&str]| headers.iter().position(|h| set.contains(&h.as_str()));
        // a title above the table ("Customers, December") is passed over
        if let Some(n) = find(NUMBER_HEADERS) {
            columns = Some((n, find(NAME_HEADERS), find(COMPANY_HEADERS)));
            break;
        }
        tracing::debug!(
            list = name,
            row = i + 1,
            "not the header row: no number column"
        );
    }
    let Some((number, name_col, company_col)) = columns else {
        return Err(ListError::NoNumbers {
            name: name.to_string(),
        });
    };
    let mut out = Vec::new();
    for (i, row) in rows {
        let text = |col: Option<usize>| {
            col.and_then(|c| row.get(c))
                .map(cell)
                .filter(|t| !t.is_empty())
        };
        if row.iter().take(MAX_COLUMNS).all(|c| cell(c).is_empty()) {
            continue;
        }
        if out.len() == max_rows {
            return Err(ListError::TooManyRows {
                name: name.to_string(),
                max: max_rows,
            });
        }
        out.push(ListRow {
            row: first_row + i as u32 + 1,
            number: text(Some(number)).unwrap_or_default(),
            name: text(name_col),
            company: text(company_col),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workbook of `rows` (the first the header), as Excel writes one.
    fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, row) in rows.iter().enumerate() {
            for (c, text) in row.iter().enumerate() {
                match text.parse::<f64>() {
                    // numbers typed as numbers, as people do
                    Ok(n) if !text.starts_with('0') && !text.starts_with('+') => {
                        sheet.write_number(r as u32, c as u16, n).unwrap()
                    }
                    _ => sheet.write_string(r as u32, c as u16, *text).unwrap(),
                };
            }
        }
        book.save_to_buffer().unwrap()
    }

    /// An OpenDocument spreadsheet of `rows`, made by hand (mimetype, manifest, content).
    fn ods(rows: &[&[&str]]) -> Vec<u8> {
        use std::io::Write;
        let mut table = String::new();
        for row in rows {
            table.push_str("<table:table-row>");
            for text in *row {
                table.push_str(&format!(
                    "<table:table-cell office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
                ));
            }
            table.push_str("</table:table-row>");
        }
        let content = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content \
             xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
             xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
             xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
             <office:body><office:spreadsheet><table:table table:name=\"List\">{table}</table:table>\
             </office:spreadsheet></office:body></office:document-content>"
        );
        let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest:manifest \
             xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
             <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
             <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
             </manifest:manifest>";
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in [
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
            ("META-INF/manifest.xml", manifest),
            ("content.xml", content.as_str()),
        ] {
            zip.start_file(name, stored).unwrap();
            zip.write_all(data.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// A ZIP of one deflated entry of `real` zero bytes whose headers declare `declared`.
    fn lying_zip(declared: u32, real: usize) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/worksheets/sheet1.xml", deflated)
            .unwrap();
        zip.write_all(&vec![0u8; real]).unwrap();
        let mut bytes = zip.finish().unwrap().into_inner();
        // the local header's size (offset 22) and the central record's (offset 24)
        bytes[22..26].copy_from_slice(&declared.to_le_bytes());
        let central = bytes
            .windows(4)
            .rposition(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        bytes[central + 24..central + 28].copy_from_slice(&declared.to_le_bytes());
        bytes
    }

    const LIST: &[&[&str]] = &[
        &["Customers, December", "", ""],
        &["Numéro de fax", "Nom", "Société"],
        &["01 69 29 39 99", "Jean Dupont", "Durand SA"],
        &["", "Nobody", ""],
        &["", "", ""],
        &["+442079460000", "", "Acme Ltd"],
        &["169293998", "Number typed as a number", ""],
    ];

    #[test]
    fn rows_are_read_by_their_headers_from_xlsx_and_ods_alike() {
        let want = vec![
            ListRow {
                row: 3,
                number: "01 69 29 39 99".into(),
                name: Some("Jean Dupont".into()),
                company: Some("Durand SA".into()),
            },
            ListRow {
                row: 4,
                number: String::new(),
                name: Some("Nobody".into()),
                company: None,
            },
            ListRow {
                row: 6,
                number: "+442079460000".into(),
                name: None,
                company: Some("Acme Ltd".into()),
            },
            ListRow {
                row: 7,
                number: "169293998".into(),
                name: Some("Number typed as a number".into()),
                company: None,
            },
        ];
        assert_eq!(read("list.xlsx", &xlsx(LIST), 100).unwrap(), want);
        assert_eq!(read("list.ods", &ods(LIST), 100).unwrap(), want);
    }

    #[test]
    fn a_list_that_cannot_be_used_is_refused_with_its_reason() {
        let no_numbers: &[&[&str]] = &[&["Name", "Company"], &["Jean", "Durand"]];
        assert_eq!(
            read("l.xlsx", &xlsx(no_numbers), 100),
            Err(ListError::NoNumbers {
                name: "l.xlsx".into()
            })
        );
        assert_eq!(
            read("l.xlsx", &xlsx(LIST), 3),
            Err(ListError::TooManyRows {
                name: "l.xlsx".into(),
                max: 3
            })
        );
        assert!(matches!(
            read("l.xlsx", b"not a spreadsheet", 10),
            Err(ListError::Unreadable { .. })
        ));
        // a bomb: a ZIP declaring 4 GB is refused before anything is unpacked
        let mut bomb = ods(LIST);
        let central = bomb
            .windows(4)
            .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        bomb[central + 24..central + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = read("l.ods", &bomb, 10).unwrap_err().to_string();
        assert!(e.contains("decompression bomb"), "{e}");
        // a bomb that lies: it declares 200 bytes but inflates to more than the limit
        let liar = lying_zip(200, (MAX_UNPACKED + (1 << 20)) as usize);
        assert_eq!(
            faxhub_queue::files::zip_unpacked_size(&liar),
            Some(200),
            "the control: what it declares passes the first check"
        );
        let e = unpacked_within(&liar, MAX_UNPACKED).unwrap_err();
        assert!(e.contains("decompression bomb"), "{e}");
        let e = read("l.xlsx", &liar, 10).unwrap_err().to_string();
        assert!(e.contains("decompression bomb"), "{e}");
        // the control: the same archive, undoctored, is read
        assert!(read("l.ods", &ods(LIST), 10).is_ok());
    }

    #[test]
    fn list_names_and_headers() {
        assert!(is_list("Clients.XLSX") && is_list("a.xls") && is_list("a.ods"));
        assert!(!is_list("a.pdf") && !is_list("xlsx"));
        assert_eq!(folded("N° de Fax"), "ndefax");
        assert_eq!(folded("Fax-Nummer"), "faxnummer");
    }
}
