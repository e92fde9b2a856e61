//! The hostile documents, made here: each links the canary (`Link::File`, a `file://` URL or a
//! plain path) or the listener's URL (`Link::Url`) the way one format allows.

use std::io::Write;
use std::path::Path;

pub enum Link {
    File,
    Url,
}

pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    pub link: Link,
    /// The import filter the control forces, as faxhub's worker once did for `.html` files.
    pub infilter: Option<&'static str>,
    /// Whether taking the links out of the document (`office::defuse`) alone stops it (the
    /// HTML behind OLE2 magic is stopped by being kept from LibreOffice's HTML filter instead).
    pub defused: bool,
}

/// Every case, for the canary image at `canary`, the canary PDF at `canary_pdf` and the
/// listener at `url`.
pub fn cases(canary: &Path, canary_pdf: &Path, url: &str) -> Vec<Case> {
    let file_url = format!("file://{}", canary.display());
    let mut out = Vec::new();
    for (link, target) in [(Link::File, file_url.as_str()), (Link::Url, url)] {
        let tag = match link {
            Link::File => "file",
            Link::Url => "url",
        };
        let made: [(&str, Vec<u8>, Option<&'static str>); 4] = [
            ("docx-external-image", docx_linking(target), None),
            ("fodt-linked-image", fodt_linking(target).into_bytes(), None),
            ("odt-linked-image", odt_linking(target), None),
            // as faxhub's worker once read any `.html` file
            (
                "ole-magic-html",
                html_behind_ole_magic(target),
                Some("HTML (StarWriter)"),
            ),
        ];
        let extensions = ["docx", "fodt", "odt", "html"];
        for ((stem, bytes, infilter), ext) in made.into_iter().zip(extensions) {
            out.push(Case {
                name: format!("{stem}-{tag}.{ext}"),
                bytes,
                link: clone(&link),
                defused: infilter.is_none(),
                infilter,
            });
        }
    }
    out.push(Case {
        name: "rtf-includepicture.rtf".into(),
        bytes: rtf_including(&canary.display().to_string()).into_bytes(),
        link: Link::File,
        infilter: None,
        defused: true,
    });
    // a picture of the package that is an SVG linking further (a plain soffice follows a file
    // link from an SVG; it fetches no URL from one)
    out.push(Case {
        name: "odt-svg-linking-file.odt".into(),
        bytes: odt_with_svg_linking(&file_url),
        link: Link::File,
        infilter: None,
        defused: true,
    });
    // a linked PDF is drawn as a picture
    out.push(Case {
        name: "odt-linked-pdf-file.odt".into(),
        bytes: odt_linking(&format!("file://{}", canary_pdf.display())),
        link: Link::File,
        infilter: None,
        defused: true,
    });
    out
}

fn clone(link: &Link) -> Link {
    match link {
        Link::File => Link::File,
        Link::Url => Link::Url,
    }
}

/// A ZIP package of stored (uncompressed) parts, in order.
fn package(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in parts {
        zip.start_file(*name, stored).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A Word document whose picture is an external relationship (`TargetMode="External"`).
fn docx_linking(target: &str) -> Vec<u8> {
    let content_types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let doc_rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdImg" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="{target}" TargetMode="External"/></Relationships>"#
    );
    let document = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body><w:p><w:r><w:t>Quarterly report</w:t></w:r></w:p><w:p><w:r><w:drawing><wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="5760000" cy="5760000"/><wp:docPr id="1" name="Picture 1"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="Picture 1"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:link="rIdImg"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="5760000" cy="5760000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p></w:body></w:document>"#;
    package(&[
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", rels),
        ("word/_rels/document.xml.rels", &doc_rels),
        ("word/document.xml", document),
    ])
}

const ODF_NAMESPACES: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:xlink="http://www.w3.org/1999/xlink""#;

fn odf_body(target: &str) -> String {
    format!(
        r#"<office:body><office:text><text:p>Quarterly report</text:p><text:p><draw:frame draw:name="p" text:anchor-type="as-char" svg:width="16cm" svg:height="16cm"><draw:image xlink:href="{target}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p></office:text></office:body>"#
    )
}

/// A flat OpenDocument text whose image is linked (`draw:image xlink:href`).
fn fodt_linking(target: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document {ODF_NAMESPACES} office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">{}</office:document>"#,
        odf_body(target)
    )
}

/// The same as a zipped OpenDocument text.
fn odt_linking(target: &str) -> Vec<u8> {
    odt(target, &[])
}

/// A zipped OpenDocument text showing the picture `picture` (a URL, or a part of `extra`).
fn odt(picture: &str, extra: &[(&str, &str, &str)]) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NAMESPACES} office:version="1.2">{}</office:document-content>"#,
        odf_body(picture)
    );
    let entries: String = extra
        .iter()
        .map(|(name, _, media)| {
            format!(r#"<manifest:file-entry manifest:full-path="{name}" manifest:media-type="{media}"/>"#)
        })
        .collect();
    let manifest = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>{entries}</manifest:manifest>"#
    );
    let mut parts = vec![
        ("mimetype", "application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_str()),
        ("META-INF/manifest.xml", manifest.as_str()),
    ];
    parts.extend(extra.iter().map(|(name, body, _)| (*name, *body)));
    package(&parts)
}

/// A zipped OpenDocument text whose picture is an SVG of its own package, and that SVG links
/// `target` as an image.
fn odt_with_svg_linking(target: &str) -> Vec<u8> {
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="600" height="600"><image xlink:href="{target}" x="0" y="0" width="600" height="600"/></svg>"#
    );
    odt(
        "Pictures/chart.svg",
        &[("Pictures/chart.svg", &svg, "image/svg+xml")],
    )
}

/// HTML behind the OLE2 magic, named `.html`: classed as an Office file by its magic, it must
/// still never be read by LibreOffice's HTML filter unsanitised.
fn html_behind_ole_magic(target: &str) -> Vec<u8> {
    let mut bytes = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
    bytes.extend(
        format!(
            r#"<html><body><p>Quarterly report</p><img src="{target}" width="640" height="640"></body></html>"#
        )
        .bytes(),
    );
    bytes
}

/// An RTF whose field includes a picture by path, linked and not stored (`\d`).
fn rtf_including(path: &str) -> String {
    format!(
        r#"{{\rtf1\ansi Quarterly report\par {{\field{{\*\fldinst INCLUDEPICTURE "{path}" \\d \\* MERGEFORMAT}}{{\fldrslt }}}}\par}}"#
    )
}

/// A flat OpenDocument spreadsheet whose Sheet1.A1 is `text`.
pub fn flat_sheet(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row><table:table-cell><text:p>{text}</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document>"#
    )
}

/// An Excel workbook whose A1 is `=INDIRECT("'<url>'#$Sheet1.A1")`, no cached value: LibreOffice
/// loads the other spreadsheet to compute it.
pub fn xlsx_indirect(url: &str) -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let workbook = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let workbook_rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="str"><f>INDIRECT("'{url}'#$Sheet1.A1")</f></c></row></sheetData></worksheet>"#
    );
    package(&[
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/worksheets/sheet1.xml", &sheet),
    ])
}
