//! Legibility, measured by OCR: a text document (7, 8, 9, 10 and 12 pt, a table of numbers,
//! French with € and œ) is faxed at normal and at fine resolution by faxhub and, side by side,
//! by the plain pipeline (one cold `soffice --convert-to pdf`, then `gs -sDEVICE=tiffg4`).
//! Debian's Tesseract reads both; faxhub's character accuracy against the source text must not
//! fall below the plain pipeline's. Pages are read as a fax machine prints them: square pixels
//! (a normal-resolution row printed twice).

mod common;

use common::{ocr, pages_as_pgm, run};
use faxhub_converters::{ConvertConfig, Converter, Resolution};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The paragraphs of the document, each at its size in points.
fn paragraphs() -> Vec<(u32, String)> {
    let english = "The quick brown fox jumps over the lazy dog near 42 Baker Street.";
    let french = "Le cœur déçu mais l'âme plutôt naïve, Louis rêva de crapahuter \
                  en canoë au-delà des îles. Prix : 1 234,56 € TTC, œuvre n° 7.";
    let mut out = Vec::new();
    for size in [7, 8, 9, 10, 12] {
        out.push((size, format!("{size} pt. {english}")));
        out.push((size, french.to_string()));
    }
    out
}

/// Rows of the table of numbers (10 pt).
fn table() -> Vec<[String; 4]> {
    (1..=8)
        .map(|i| {
            [
                format!("{}", 1000 + i * 137),
                format!("{},{:02}", i * 29, i * 7 % 100),
                format!("{:05}", i * 4241 % 100_000),
                format!("{}.{}", i * 3, i * 11 % 10),
            ]
        })
        .collect()
}

/// The source text, as OCR should read it (paragraphs, then the table row by row).
fn source_text() -> String {
    let mut words: Vec<String> = paragraphs().into_iter().map(|(_, t)| t).collect();
    for row in table() {
        words.push(row.join(" "));
    }
    words.join(" ")
}

/// RTF escapes for Windows-1252 (what LibreOffice reads in `\'hh`).
fn rtf_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let code = match c {
            '€' => Some(0x80),
            'œ' => Some(0x9c),
            c if (c as u32) >= 0xa0 && (c as u32) <= 0xff => Some(c as u32),
            _ => None,
        };
        match code {
            Some(b) => out.push_str(&format!("\\'{b:02x}")),
            None if matches!(c, '\\' | '{' | '}') => {
                out.push('\\');
                out.push(c);
            }
            None => out.push(c),
        }
    }
    out
}

fn document_rtf() -> String {
    let mut rtf = String::from(
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Liberation Sans;}}\
         \\paperw11906\\paperh16838\\margl1134\\margr1134\\margt1134\\margb1134\n",
    );
    for (size, text) in paragraphs() {
        rtf.push_str(&format!(
            "\\pard\\sa120\\f0\\fs{} {}\\par\n",
            size * 2,
            rtf_text(&text)
        ));
    }
    for row in table() {
        rtf.push_str("\\trowd\\trgaph108");
        for k in 1..=4 {
            rtf.push_str(&format!(
                "\\clbrdrt\\brdrs\\clbrdrb\\brdrs\\cellx{}",
                k * 2000
            ));
        }
        rtf.push_str("\\pard\\intbl\\fs20 ");
        for cell in &row {
            rtf.push_str(&format!("{cell}\\cell "));
        }
        rtf.push_str("\\row\n");
    }
    rtf.push('}');
    rtf
}

/// Characters with white space collapsed, typographic quotes made plain.
fn normalise(text: &str) -> Vec<char> {
    text.replace(['’', '‘'], "'")
        .replace(['|'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect()
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Character accuracy of `read` against `source`: 1 − edit distance / source length.
fn accuracy(source: &str, read: &str) -> f64 {
    let (s, r) = (normalise(source), normalise(read));
    1.0 - levenshtein(&s, &r) as f64 / s.len() as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn faxhub_pages_read_at_least_as_well_as_plain_soffice_then_ghostscript() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rtf = document_rtf();
    std::fs::write(d.join("letter.rtf"), &rtf).unwrap();
    // the plain pipeline: a cold soffice with a profile of its own, then Ghostscript
    let profile = format!("-env:UserInstallation=file://{}/profile", d.display());
    run(
        "soffice",
        &["--headless", &profile, "--convert-to", "pdf", "letter.rtf"],
        d,
    );
    let source = source_text();
    let mut report = Vec::new();
    for (resolution, dpi) in [(Resolution::Normal, 98), (Resolution::Fine, 196)] {
        let plain = d.join(format!("plain-{dpi}.tif"));
        run(
            "gs",
            &[
                "-q",
                "-dSAFER",
                "-dBATCH",
                "-dNOPAUSE",
                "-sDEVICE=tiffg4",
                &format!("-r204x{dpi}"),
                &format!("-sOutputFile={}", plain.display()),
                "letter.pdf",
            ],
            d,
        );
        let converter = Converter::new(ConvertConfig {
            resolution,
            office_instances: 1,
            tool_timeout: Duration::from_secs(60),
            ..ConvertConfig::default()
        })
        .with_scratch(d.to_path_buf());
        let work = d.join(format!("faxhub-{dpi}"));
        std::fs::create_dir_all(&work).unwrap();
        let set = converter
            .convert_file("letter.rtf", rtf.as_bytes(), &work)
            .await
            .unwrap();
        let ours = d.join(format!("faxhub-{dpi}.tif"));
        std::fs::copy(&set.tiff, &ours).unwrap();
        let plain_read = ocr(&pages_as_pgm(&plain, d));
        let ours_read = ocr(&pages_as_pgm(&ours, d));
        let (a_plain, a_ours) = (
            accuracy(&source, &plain_read),
            accuracy(&source, &ours_read),
        );
        println!(
            "{dpi} lpi: plain soffice → gs {:.2}%, faxhub {:.2}%",
            a_plain * 100.0,
            a_ours * 100.0
        );
        report.push((dpi, a_plain, a_ours, ours_read));
    }
    for (dpi, a_plain, a_ours, read) in &report {
        assert!(
            a_ours >= a_plain,
            "{dpi} lpi: faxhub {:.3}% < plain {:.3}%; faxhub read:\n{read}",
            a_ours * 100.0,
            a_plain * 100.0
        );
        assert!(
            *a_ours > 0.95,
            "{dpi} lpi: {a_ours}: the OCR itself failed?\n{read}"
        );
    }
}

#[test]
fn accuracy_is_an_edit_distance() {
    assert_eq!(accuracy("abcd", "abcd"), 1.0);
    assert_eq!(accuracy("abcd", "abxd"), 0.75);
    assert_eq!(accuracy("a  b\nc", "a b c"), 1.0);
    assert_eq!(accuracy("abcd", ""), 0.0);
}

/// An HTML mail as Outlook or a web mailer writes it, in `heading`, `link`, `footer` colours
/// and a table whose header row has the background `header_row`.
fn html_mail(heading: &str, link: &str, footer: &str, header_row: &str) -> String {
    format!(
        "From: Alice <alice@example.com>\r\nTo: 0169293999@fax.localhost\r\nSubject: Review\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body style=\"font-family: Arial, sans-serif; font-size: 11pt\">\
         <h2 style=\"color:{heading}\">Quarterly Supplier Review</h2>\
         <p>Please find the figures for the third quarter below. Orders go through the \
         <a href=\"https://example.com/orders\" style=\"color:{link}\">supplier portal page</a> \
         as before.</p>\
         <table border=\"1\" cellspacing=\"0\" cellpadding=\"4\">\
         <tr style=\"background-color:{header_row}\"><th>Product</th><th>Units</th><th>Amount</th></tr>\
         <tr><td>Copper wire</td><td>1200</td><td>4500 EUR</td></tr>\
         <tr><td>Steel bolts</td><td>800</td><td>960 EUR</td></tr></table>\
         <p style=\"color:{footer}; font-size:9pt\">Durand Industries, 12 rue des Lilas, \
         75011 Paris. Registered company 123456789.</p></body></html>\r\n"
    )
}

/// What the mail says, as OCR should read it.
const HTML_MAIL_TEXT: &str = "Quarterly Supplier Review Please find the figures for the third \
    quarter below. Orders go through the supplier portal page as before. Product Units Amount \
    Copper wire 1200 4500 EUR Steel bolts 800 960 EUR Durand Industries, 12 rue des Lilas, \
    75011 Paris. Registered company 123456789.";

/// The mail `eml` faxed by faxhub (`black_text` as given), read back by Tesseract.
async fn fax_and_read(d: &Path, name: &str, eml: &str, black_text: bool) -> String {
    let converter = Converter::new(ConvertConfig {
        office_instances: 1,
        tool_timeout: Duration::from_secs(60),
        black_text,
        ..ConvertConfig::default()
    })
    .with_scratch(d.to_path_buf());
    ocr(&fax_pages(&converter, d, name, eml).await)
}

/// The pages faxhub makes of the mail `eml` (in `d/<name>`), each a square-pixel PGM file.
async fn fax_pages(converter: &Converter, d: &Path, name: &str, eml: &str) -> Vec<PathBuf> {
    let work = d.join(name);
    std::fs::create_dir_all(&work).unwrap();
    let set = converter
        .convert_file("mail.eml", eml.as_bytes(), &work)
        .await
        .unwrap();
    let tiff = d.join(format!("{name}.tif"));
    std::fs::copy(&set.tiff, &tiff).unwrap();
    pages_as_pgm(&tiff, d)
}

/// Coloured and grey text stays text: a dark-blue heading, a blue link, a grey 9 pt footer and
/// a table with a grey header row read back as well as the same mail in black. The control:
/// halftoned (`black_text = false`), the coloured mail reads worse and its footer is lost.
#[tokio::test(flavor = "multi_thread")]
async fn coloured_and_grey_text_reads_as_well_as_black() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let colour = html_mail("#1a3c7a", "#0645ad", "#888888", "#cccccc");
    let black = html_mail("#000000", "#000000", "#000000", "#ffffff");
    let black_read = fax_and_read(d, "black", &black, true).await;
    let colour_read = fax_and_read(d, "colour", &colour, true).await;
    let halftoned = fax_and_read(d, "halftoned", &colour, false).await;
    let (a_black, a_colour, a_halftoned) = (
        accuracy(HTML_MAIL_TEXT, &black_read),
        accuracy(HTML_MAIL_TEXT, &colour_read),
        accuracy(HTML_MAIL_TEXT, &halftoned),
    );
    println!(
        "black {:.2}%, colour {:.2}%, colour halftoned {:.2}%",
        a_black * 100.0,
        a_colour * 100.0,
        a_halftoned * 100.0
    );
    for line in [
        "Quarterly Supplier Review",
        "supplier portal page",
        "Copper wire",
        "960 EUR",
        "Registered company 123456789",
    ] {
        assert!(
            colour_read.contains(line),
            "{line:?} not read:\n{colour_read}"
        );
    }
    assert!(
        a_colour >= a_black,
        "colour {a_colour} < black {a_black}:\n{colour_read}\n---\n{black_read}"
    );
    // the control: halftoned, the grey footer is not read and the whole reads worse
    assert!(!halftoned.contains("123456789"), "{halftoned}");
    assert!(a_halftoned < a_colour, "{halftoned}");
}

/// A mail as Outlook writes it, its body text in `font` by its style sheet (or in no font).
fn outlook_mail(font: Option<&str>) -> String {
    let sheet = font.map_or(String::new(), |f| {
        format!("p.MsoNormal {{margin:0cm; font-size:11.0pt; font-family:\"{f}\",sans-serif;}}")
    });
    let text = "Dear supplier, please find attached our purchase order for the third quarter. \
                Deliveries go to the warehouse at 12 rue des Lilas before the end of the month; \
                invoices quote the order number and the name of the person who ordered.";
    format!(
        "From: Alice <alice@example.com>\r\nTo: 0169293999@fax.localhost\r\nSubject: Order\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><head><style><!--\r\n@font-face {{font-family:Calibri;}}\r\n{sheet}\r\n--></style>\
         </head><body lang=EN-US><p class=MsoNormal>{text}</p>\
         <p class=MsoNormal>{text}</p></body></html>\r\n"
    )
}

/// The pages faxhub makes of `eml`, as pixels.
async fn fax_pixels(converter: &Converter, d: &Path, name: &str, eml: &str) -> Vec<Vec<u8>> {
    fax_pages(converter, d, name, eml)
        .await
        .iter()
        .map(|page| std::fs::read(page).unwrap())
        .collect()
}

/// Fonts a mail names are drawn in their metric-compatible twins (the lines break where they
/// did for the sender), and a mail that names none is in sans-serif: Calibri (from Outlook's
/// style sheet) is drawn exactly as Carlito, Arial as Liberation Sans, no font as Liberation
/// Sans. The controls: DejaVu Sans (the fallback without the twin) and Liberation Serif (the
/// default without the wrapper's font) draw other pages.
#[tokio::test(flavor = "multi_thread")]
async fn named_fonts_are_drawn_in_their_metric_twins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let converter = Converter::new(ConvertConfig {
        office_instances: 1,
        tool_timeout: Duration::from_secs(60),
        ..ConvertConfig::default()
    })
    .with_scratch(d.to_path_buf());
    let mut drawn = std::collections::HashMap::new();
    for (name, font) in [
        ("calibri", Some("Calibri")),
        ("carlito", Some("Carlito")),
        ("dejavu", Some("DejaVu Sans")),
        ("arial", Some("Arial")),
        ("liberation", Some("Liberation Sans")),
        ("none", None),
        ("serif", Some("Liberation Serif")),
    ] {
        let pixels = fax_pixels(&converter, d, name, &outlook_mail(font)).await;
        drawn.insert(name, pixels);
    }
    let same = |a: &str, b: &str| drawn[a] == drawn[b];
    assert!(
        same("calibri", "carlito"),
        "Calibri is not drawn as Carlito"
    );
    assert!(
        same("arial", "liberation"),
        "Arial is not drawn as Liberation Sans"
    );
    assert!(
        same("none", "liberation"),
        "a mail naming no font is not in Liberation Sans"
    );
    // the controls: the comparison tells fonts apart
    assert!(
        !same("carlito", "dejavu"),
        "Carlito is drawn as DejaVu Sans: is it installed?"
    );
    assert!(!same("liberation", "serif"));
    assert!(!same("carlito", "liberation"));
}
