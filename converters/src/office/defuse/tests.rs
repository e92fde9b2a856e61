//! Each rule against the forms a hostile document takes (renamed prefixes, split and escaped
//! instructions, nested fields, encoded paths), what must stay (hyperlinks, internal pictures,
//! plain formulas), what is refused, and the real documents of the corpus.

use super::*;
use std::io::{Cursor, Write};

fn xml(part: &str, text: &str, parts: &[&str]) -> (Option<String>, Vec<String>) {
    let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    parts.sort();
    let mut removed = Vec::new();
    let out = xml::defuse(part, text.as_bytes(), &parts, &mut removed).unwrap();
    (out.map(|b| String::from_utf8(b).unwrap()), removed)
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

#[test]
fn external_relationships_go_hyperlinks_and_internal_parts_stay() {
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.png"/><Relationship Id="r2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="file:///srv/secret.png" TargetMode="External"/><Relationship Id="r3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://example.com/" TargetMode="External"/><Relationship Id="r4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="\\host\share\t.dotm" TargetMode="external"></Relationship><Relationship Id="r5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="afchunk.mht"/></Relationships>"#;
    let (out, removed) = xml("word/_rels/document.xml.rels", rels, &[]);
    let out = out.unwrap();
    assert!(out.contains("media/image1.png") && out.contains("https://example.com/"));
    for gone in ["secret.png", "t.dotm", "afchunk.mht"] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(removed[0].starts_with("word/_rels/document.xml.rels: relationship image to"));
    // the rest of the part is byte for byte what it was
    assert!(out.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="#));
}

#[test]
fn linking_fields_are_blanked_however_they_are_written() {
    let field = |instr: &str| {
        format!(
            r#"<w:document {W}><w:body><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>{instr}<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>shown</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>"#
        )
    };
    let run =
        |t: &str| format!(r#"<w:r><w:instrText xml:space="preserve">{t}</w:instrText></w:r>"#);
    let cases = [
        run(r#" INCLUDEPICTURE "file:///srv/secret.png" \d "#),
        // split across runs
        format!(
            "{}{}",
            run(" INCLUDE"),
            run(r#"PICTURE "/srv/secret.png" "#)
        ),
        // a character reference for a letter
        run(r#" INCLUDE&#80;ICTURE "/srv/secret.png" "#),
        run(r#" includetext "/etc/hostname" "#),
        run(r#" LINK Excel.Sheet.8 "/srv/secret.xls" "Sheet1!R1C1" \a "#),
        run(r#" DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc" "#),
    ];
    for case in &cases {
        let (out, removed) = xml("word/document.xml", &field(case), &[]);
        let out = out.unwrap_or_else(|| panic!("kept: {case}"));
        assert!(
            !out.contains("secret") && !out.contains("hostname") && !out.contains("cmd.exe"),
            "{out}"
        );
        assert!(
            out.contains("<w:t>shown</w:t>"),
            "the stored result stays: {out}"
        );
        assert!(removed[0].contains(": field "), "{removed:?}");
    }
    // the same with another prefix for the WordprocessingML namespace
    let renamed = r#"<x:document xmlns:x="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><x:r><x:fldChar x:fldCharType="begin"/></x:r><x:r><x:instrText>INCLUDEPICTURE "/srv/secret.png"</x:instrText></x:r><x:r><x:fldChar x:fldCharType="end"/></x:r></x:document>"#;
    assert!(
        !xml("word/document.xml", renamed, &[])
            .0
            .unwrap()
            .contains("secret")
    );
    // a field whose instruction holds another field: what it computes is not read here
    let nested = field(&format!(
        r#"{}<w:r><w:fldChar w:fldCharType="begin"/></w:r>{}<w:r><w:fldChar w:fldCharType="end"/></w:r>{}"#,
        run(" "),
        run(r#" QUOTE "INCLUDE" "#),
        run(r#"PICTURE "/srv/secret.png" "#)
    ));
    let (out, removed) = xml("word/document.xml", &nested, &[]);
    assert!(!out.unwrap().contains("secret"), "{removed:?}");
    assert!(removed.iter().any(|r| r.contains("nested")), "{removed:?}");
    // a simple field
    let simple = format!(
        r#"<w:p {W}><w:fldSimple w:instr=" INCLUDETEXT &quot;/etc/hostname&quot; "><w:r><w:t>x</w:t></w:r></w:fldSimple></w:p>"#
    );
    let out = xml("word/document.xml", &simple, &[]).0.unwrap();
    assert!(out.contains(r#"<w:fldSimple w:instr="">"#), "{out}");
    // what stays: a hyperlink field, a page number
    for harmless in [
        run(r#" HYPERLINK "https://example.com/include" "#),
        run(" PAGE "),
        run(r#" MERGEFIELD Linker "#),
    ] {
        assert_eq!(
            xml("word/document.xml", &field(&harmless), &[]),
            (None, vec![])
        );
    }
}

#[test]
fn formulas_that_reach_outside_go_and_their_stored_values_stay() {
    let sheet = |f: &str| {
        format!(
            r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="str"><f>{f}</f><v>cached</v></c></row></sheetData></worksheet>"#
        )
    };
    for reaching in [
        r#"INDIRECT("'file:///srv/x.ods'#$Sheet1.A1")"#,
        r#"indirect (B2)"#,
        r#"_xlfn.WEBSERVICE("http://127.0.0.1/")"#,
        r#"'file:///srv/[x.xlsx]Sheet1'!A1"#,
        r#"RTD("x",,"y")"#,
        r#"INFO("directory")"#,
        r#"CELL("filename")"#,
        r#"'\\host\share\[x.xls]S'!A1"#,
    ] {
        let escaped = reaching.replace('&', "&amp;").replace('"', "&quot;");
        let (out, removed) = xml("xl/worksheets/sheet1.xml", &sheet(&escaped), &[]);
        let out = out.unwrap_or_else(|| panic!("kept {reaching}"));
        assert!(
            !out.contains("<f>") && out.contains("<v>cached</v>"),
            "{out}"
        );
        assert!(removed[0].contains("formula"), "{removed:?}");
    }
    for plain in [
        "SUM(A1:A3)",
        "A1*2",
        "IF(B1&gt;0,&quot;ok&quot;,&quot;no&quot;)",
    ] {
        assert_eq!(
            xml("xl/worksheets/sheet1.xml", &sheet(plain), &[]),
            (None, vec![])
        );
    }
    let names = r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><definedNames><definedName name="x">WEBSERVICE("http://h/")</definedName><definedName name="y">Sheet1!$A$1</definedName></definedNames></workbook>"#;
    let out = xml("xl/workbook.xml", names, &[]).0.unwrap();
    assert!(
        !out.contains("WEBSERVICE") && out.contains("Sheet1!$A$1"),
        "{out}"
    );
}

const ODF: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:xlink="http://www.w3.org/1999/xlink""#;

#[test]
fn odf_links_outside_the_package_go_and_hyperlinks_stay() {
    let image = |href: &str| {
        format!(
            r#"<office:document-content {ODF}><office:body><text:p><text:a xlink:href="https://example.com/">site</text:a><draw:frame><draw:image xlink:href="{href}"/></draw:frame></text:p></office:body></office:document-content>"#
        )
    };
    let parts = ["Pictures/logo.png", "Object 1/content.xml", "content.xml"];
    for outside in [
        "file:///srv/secret.png",
        "http://127.0.0.1:9/x.png",
        "/srv/secret.png",
        "../secret.png",
        "Pictures/../../secret.png",
        "Pictures%2F..%2F..%2Fsecret.png",
        "secret.png",
        "vnd.sun.star.expand:$UNO_USER_INSTALLATION/x.png",
        "\\\\host\\share\\x.png",
        "~/x.png",
    ] {
        let (out, removed) = xml("content.xml", &image(outside), &parts);
        let out = out.unwrap_or_else(|| panic!("kept {outside}"));
        assert!(out.contains("<draw:image/>"), "{outside}: {out}");
        assert!(
            out.contains(r#"<text:a xlink:href="https://example.com/">"#),
            "{out}"
        );
        assert!(
            removed[0].starts_with("content.xml: link xlink:href="),
            "{removed:?}"
        );
    }
    for inside in ["Pictures/logo.png", "./Object 1", "Object 1/", "#Bookmark"] {
        assert_eq!(
            xml("content.xml", &image(inside), &parts),
            (None, vec![]),
            "{inside}"
        );
    }
    // a flat file has no parts: any relative link is a file beside it on disk
    assert!(
        xml("document", &image("Pictures/logo.png"), &[])
            .0
            .is_some()
    );
    // another prefix for the xlink namespace
    let renamed = format!(
        r#"<office:document {ODF} xmlns:l="http://www.w3.org/1999/xlink"><draw:image l:href='file:///srv/"x".png'/></office:document>"#
    );
    assert!(
        xml("document", &renamed, &[])
            .0
            .unwrap()
            .contains("<draw:image/>")
    );
    // linked sections and tables, DDE, formulas that reach out
    let linked = format!(
        r#"<office:document-content {ODF}><text:section text:name="s"><text:section-source xlink:href="file:///srv/x.odt"/></text:section><table:table><table:table-source xlink:href="http://h/x.ods" table:table-name="S"></table:table-source><table:table-row><table:table-cell table:formula="of:=INDIRECT(&quot;&apos;file:///srv/x.ods&apos;#$Sheet1.A1&quot;)" office:value="0"/><table:table-cell table:formula="of:=SUM([.A1:.A2])"/></table:table-row></table:table></office:document-content>"#
    );
    let (out, removed) = xml("content.xml", &linked, &parts);
    let out = out.unwrap();
    assert!(!out.contains("srv") && !out.contains("http://h/"), "{out}");
    assert!(
        out.contains(r#"<table:table-cell office:value="0"/>"#),
        "{out}"
    );
    assert!(out.contains("of:=SUM"), "{out}");
    assert_eq!(removed.len(), 3, "{removed:?}");
}

#[test]
fn what_cannot_be_read_safely_is_refused() {
    let refused = |text: &[u8]| {
        let mut removed = Vec::new();
        xml::defuse("content.xml", text, &[], &mut removed).unwrap_err()
    };
    let dtd = br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "INCLUDEPICTURE">]><d>&e;</d>"#;
    assert!(refused(dtd).contains("DTD"));
    assert!(refused(br#"<?xml version="1.0" encoding="ISO-8859-1"?><d/>"#).contains("ISO-8859-1"));
    assert!(refused(b"\xFF\xFE<\x00d\x00/").contains("UTF-16"));
    assert!(refused(br#"<?xml version="1.0" encoding="UTF-16"?><d/>"#).contains("UTF-16"));
    assert!(refused(b"<d>\xE9</d>").contains("not UTF-8"));
    assert!(refused(b"<d><e></d>").contains("not well-formed"));
    assert!(refused(b"<d a='1' a='2'/>").contains("attribute"));
    assert!(refused(b"<d>&undeclared;</d>").contains("undeclared"));
}

/// A ZIP package of `parts` (name, content), deflated.
fn zip_of(parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in parts {
        out.start_file(*name, deflated).unwrap();
        out.write_all(content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn xml_parts_are_read_within_a_total_and_other_parts_hardly_at_all() {
    let xml = |n: usize| {
        format!(
            "<?xml version=\"1.0\"?><w:document>{}</w:document>",
            "x".repeat(n)
        )
        .into_bytes()
    };
    let package = zip_of(&[
        ("word/a.xml", xml(1000)),
        ("word/b.xml", xml(1000)),
        ("word/c.xml", xml(1000)),
        // an image far larger than a part may be: never unpacked
        ("word/media/image1.png", vec![0u8; 200_000]),
    ]);
    assert!(package_within(&package, 64 << 10, 4 << 10).is_ok());
    let too_much = package_within(&package, 64 << 10, 3 << 10).unwrap_err();
    assert!(
        too_much.contains("XML parts unpack to more than"),
        "{too_much}"
    );
    let one_too_big = package_within(&package, 1 << 10, 1 << 20).unwrap_err();
    assert!(
        one_too_big.starts_with("word/a.xml unpacks to more than"),
        "{one_too_big}"
    );
    // the image alone is bigger than every limit above: it counts for nothing
    let image_only = zip_of(&[("word/media/image1.png", vec![0u8; 200_000])]);
    assert!(matches!(
        package_within(&image_only, 1 << 10, 1 << 10),
        Ok(None)
    ));
}

#[test]
fn utf16_parts_are_read_and_written_back_in_utf8() {
    let text = r#"<?xml version="1.0" encoding="UTF-16" standalone="yes"?><d xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="file:///srv/x.png"/></d>"#;
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut removed = Vec::new();
    let out = xml::defuse("customXml/item1.xml", &bytes, &[], &mut removed)
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><d xmlns:xlink="http://www.w3.org/1999/xlink"><image/></d>"#
    );
    // nothing to take out: the part stays as it was
    let mut plain = vec![0xFE, 0xFF];
    plain.extend("<d>text</d>".encode_utf16().flat_map(u16::to_be_bytes));
    assert_eq!(
        xml::defuse("x.xml", &plain, &[], &mut removed).unwrap(),
        None
    );
}

fn rtf(text: &str) -> (String, Vec<String>) {
    match rtf::defuse(text.as_bytes()).unwrap() {
        Some(d) => (String::from_utf8_lossy(&d.bytes).into_owned(), d.removed),
        None => (text.to_string(), Vec::new()),
    }
}

#[test]
fn rtf_fields_templates_and_linked_objects() {
    for instruction in [
        r#"INCLUDEPICTURE "/srv/secret.png" \\d"#,
        r#"\'49NCLUDEPICTURE "/srv/secret.png""#,
        r#"{INCLUDE}{PICTURE} "/srv/secret.png""#,
        r#"\u73?NCLUDEPICTURE "/srv/secret.png""#,
        r#"INCLUDE\u80 ?ICTURE "/srv/secret.png""#,
        r#"includetext "/srv/secret.txt""#,
        r#"{\field{\*\fldinst QUOTE INCLUDE}{\fldrslt }}PICTURE "/srv/secret.png""#,
    ] {
        let doc = format!(
            r#"{{\rtf1\ansi Report\par {{\field{{\*\fldinst {instruction}}}{{\fldrslt shown}}}}\par}}"#
        );
        let (out, removed) = rtf(&doc);
        assert!(!out.contains("secret"), "{instruction}: {out}");
        assert!(out.contains(r"{\*\fldinst }{\fldrslt shown}"), "{out}");
        assert!(!removed.is_empty());
    }
    let harmless = r#"{\rtf1 {\field{\*\fldinst HYPERLINK "https://example.com/"}{\fldrslt site}}{\field{\*\fldinst PAGE}{\fldrslt 1}}}"#;
    assert_eq!(rtf(harmless), (harmless.to_string(), vec![]));
    let template = r#"{\rtf1{\*\template \\host\share\evil.dot}Text}"#;
    assert_eq!(rtf(template).0, r#"{\rtf1Text}"#);
    let linked = r#"{\rtf1 A{\object\objautlink{\*\objclass Excel.Sheet.8}{\*\objdata 0102}{\result{\pict x}}}B}"#;
    assert_eq!(rtf(linked).0, r#"{\rtf1 AB}"#);
    // binary data is skipped as LibreOffice skips it: braces in it change nothing
    let bin = "{\\rtf1 {\\pict\\bin4 }}}{}{\\field{\\*\\fldinst INCLUDEPICTURE \"/srv/s.png\"}{\\fldrslt }}}";
    assert!(!rtf(bin).0.contains("/srv/s.png"), "{}", rtf(bin).0);
    // fields opened inside one another without end: refused past the bound
    let deep = format!(
        "{{\\rtf1 {}",
        "{\\field{\\*\\fldinst ".repeat(rtf::MAX_OPEN_FIELDS + 1)
    );
    assert!(
        rtf::defuse(deep.as_bytes())
            .unwrap_err()
            .contains("nests fields")
    );
}

#[test]
fn links_are_judged_as_libreoffice_reads_them() {
    let parts: Vec<String> = ["Object 1/content.xml", "Pictures/a b.png"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (link, outside) in [
        ("Pictures/a%20b.png", false),
        ("Pictures/a b.png", false),
        ("./Object 1", false),
        ("#Sheet1.A1", false),
        ("", false),
        ("Pictures/missing.png", true),
        ("Pictures/a b.png/../../x", true),
        ("%2e%2e/x.png", true),
        ("%FF.png", true),
        ("data:image/png;base64,AAAA", true),
        ("C:\\x.png", true),
    ] {
        assert_eq!(external(link, &parts), outside, "{link}");
    }
}

/// Every Office file of the corpus: none refused, and what is taken out of each shown.
#[test]
fn the_corpus_documents_are_read_and_kept() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus/office");
    let mut seen = 0;
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let office = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| crate::mime::OFFICE_EXTENSIONS.contains(&e));
            if !office {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            match defuse(&bytes) {
                Ok(Some(d)) => eprintln!("{}: {:?}", path.display(), d.removed),
                Ok(None) => {}
                Err(e) => panic!("{}: refused: {e}", path.display()),
            }
            seen += 1;
        }
    }
    assert!(seen > 50, "{seen} corpus files");
}

mod fuzz {
    //! Bounded fuzzing (proptest, in `make test`): XML parts and RTF of any shape, and real ones
    //! with bytes changed: never a panic, and what comes out is never longer than what went in
    //! but for a rewritten tag or declaration.
    use super::super::*;
    use proptest::prelude::*;

    const RTF: &str = r#"{\rtf1\ansi Report\par {\field{\*\fldinst INCLUDEPICTURE "/srv/x.png" \\d}{\fldrslt shown}}{\object\objautlink{\result x}}\bin3 }}}\par}"#;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_xml_part_or_rtf_never_panics(text in ".{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut removed = Vec::new();
            let _ = xml::defuse("x.xml", text.as_bytes(), &[], &mut removed);
            let _ = xml::defuse("x.xml", &bytes, &[], &mut removed);
            let _ = rtf::defuse(&bytes);
            let _ = defuse(&bytes);
        }

        #[test]
        fn damaged_rtf_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..10)) {
            let mut bytes = RTF.as_bytes().to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Ok(Some(d)) = rtf::defuse(&bytes) {
                prop_assert!(d.bytes.len() <= bytes.len() + 16);
            }
        }
    }
}
