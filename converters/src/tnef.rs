//! TNEF (`winmail.dat`, `application/ms-tnef`, MS-OXTNEF): what Exchange and Outlook wrap a
//! message's attachments and body in when they send "rich text".
//!
//! Reads the legacy attributes (attAttachRendData starts an attachment, attAttachTitle names it
//! in 8.3 form, attAttachData holds it, attBody is the plain body) and the MAPI property blocks
//! (attMAPIProps for the message, attAttachment for each attachment, MS-OXTNEF §2.1.3.5): the
//! long file name, the data when it is only there, an embedded message's own TNEF stream, and
//! the rich bodies, HTML (PR_HTML) and compressed RTF (PR_RTF_COMPRESSED, decompressed by
//! `rtf_decompress`, MS-OXRTFCP). Pure; a damaged stream gives `None`, never a panic.

/// TNEF_SIGNATURE, little-endian.
pub const SIGNATURE: [u8; 4] = [0x78, 0x9f, 0x3e, 0x22];

const ATT_BODY: u32 = 0x0002_800C;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_MAPI_PROPS: u32 = 0x0006_9003;
const ATT_ATTACHMENT: u32 = 0x0006_9005;

// MAPI property ids (MS-OXPROPS)
const PR_BODY: u16 = 0x1000;
const PR_RTF_COMPRESSED: u16 = 0x1009;
const PR_HTML: u16 = 0x1013;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;

// MAPI property types
const PT_UNICODE: u16 = 0x001F;
const PT_STRING8: u16 = 0x001E;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tnef {
    /// The plain text body.
    pub body: Option<String>,
    /// The HTML body, as Outlook stored it.
    pub html: Option<Vec<u8>>,
    /// The RTF body, decompressed.
    pub rtf: Option<Vec<u8>>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    /// The best name known: the long file name, else the display name, else the 8.3 title.
    pub title: Option<String>,
    pub mime: Option<String>,
    pub data: Vec<u8>,
}

pub fn is_tnef(bytes: &[u8]) -> bool {
    bytes.starts_with(&SIGNATURE)
}

/// Parses a TNEF stream; `None` if it is not one or is cut short.
pub fn parse(bytes: &[u8]) -> Option<Tnef> {
    if !is_tnef(bytes) {
        return None;
    }
    let mut at = 6; // signature and legacy key
    let mut out = Tnef::default();
    while at < bytes.len() {
        let _level = *bytes.get(at)?;
        let id = u32::from_le_bytes(bytes.get(at + 1..at + 5)?.try_into().ok()?);
        let len = u32::from_le_bytes(bytes.get(at + 5..at + 9)?.try_into().ok()?) as usize;
        let data = bytes.get(at + 9..(at + 9).checked_add(len)?)?;
        at += 9 + len + 2; // data and checksum
        match id {
            ATT_BODY => out.body = Some(text8(data)),
            ATT_ATTACH_REND_DATA => out.attachments.push(Attachment::default()),
            ATT_ATTACH_TITLE => {
                if let Some(a) = out.attachments.last_mut() {
                    a.title.get_or_insert(text8(data));
                }
            }
            ATT_ATTACH_DATA => {
                if let Some(a) = out.attachments.last_mut() {
                    a.data = data.to_vec();
                }
            }
            ATT_MAPI_PROPS => {
                for p in properties(data)? {
                    match (p.id, p.value) {
                        (PR_BODY, Value::Text(t)) if out.body.is_none() => out.body = Some(t),
                        (PR_HTML, Value::Bytes(b)) => out.html = Some(b),
                        (PR_HTML, Value::Text(t)) => out.html = Some(t.into_bytes()),
                        (PR_RTF_COMPRESSED, Value::Bytes(b)) => out.rtf = rtf_decompress(&b),
                        _ => {}
                    }
                }
            }
            ATT_ATTACHMENT => {
                // the MAPI view of the current attachment, which may come before its data
                if out.attachments.is_empty() {
                    out.attachments.push(Attachment::default());
                }
                let a = out.attachments.last_mut()?;
                apply_attachment_properties(a, properties(data)?);
            }
            _ => {}
        }
    }
    Some(out)
}

fn apply_attachment_properties(a: &mut Attachment, props: Vec<Property>) {
    let mut long = None;
    let mut display = None;
    for p in props {
        match (p.id, p.value) {
            (PR_ATTACH_LONG_FILENAME, Value::Text(t)) if !t.is_empty() => long = Some(t),
            (PR_DISPLAY_NAME, Value::Text(t)) if !t.is_empty() => display = Some(t),
            (PR_ATTACH_FILENAME, Value::Text(t)) if !t.is_empty() && a.title.is_none() => {
                a.title = Some(t)
            }
            (PR_ATTACH_MIME_TAG, Value::Text(t)) => a.mime = Some(t),
            (PR_ATTACH_DATA, Value::Bytes(b)) if a.data.is_empty() => a.data = b,
            // an embedded message: a 16-byte interface id, then its own TNEF stream
            (PR_ATTACH_DATA, Value::Object(b)) if a.data.is_empty() => a.data = b,
            _ => {}
        }
    }
    if let Some(name) = long.or(display) {
        a.title = Some(name);
    }
}

/// A NUL-terminated 8-bit string (Windows-1252 in practice; non-ASCII bytes are kept as
/// Latin-1, which agrees with it on letters).
fn text8(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    data[..end].iter().map(|&b| b as char).collect()
}

fn text16(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

struct Property {
    id: u16,
    value: Value,
}

enum Value {
    Text(String),
    Bytes(Vec<u8>),
    Object(Vec<u8>),
    Other,
}

/// A reader over a property block, little-endian, every value padded to 4 bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// `n` bytes and the padding after them.
    fn padded(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.take(n)?;
        self.take((4 - n % 4) % 4)?;
        Some(out)
    }
}

/// Size of one value of a fixed-size property type; `None` for the variable-size types.
fn fixed_size(ptype: u16) -> Option<usize> {
    match ptype {
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4), // short, long, float, error, bool
        0x0005..=0x0007 | 0x0014 | 0x0040 => Some(8), // double, currency, apptime, i8, systime
        0x0048 => Some(16),                           // CLSID
        0x0001 => Some(0),                            // null
        _ => None,
    }
}

/// The properties of an attMAPIProps / attAttachment block.
fn properties(data: &[u8]) -> Option<Vec<Property>> {
    let mut r = Reader { bytes: data, at: 0 };
    let count = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..count {
        let ptype = r.u16()?;
        let id = r.u16()?;
        if id >= 0x8000 {
            // a named property: GUID, then a number or a name
            r.take(16)?;
            match r.u32()? {
                0 => {
                    r.u32()?;
                }
                _ => {
                    let len = r.u32()? as usize;
                    r.padded(len)?;
                }
            }
        }
        let base = ptype & !MV_FLAG;
        let multi = ptype & MV_FLAG != 0;
        let mut value = Value::Other;
        if let Some(size) = fixed_size(base) {
            let n = if multi { r.u32()? as usize } else { 1 };
            for _ in 0..n {
                r.padded(size)?;
            }
        } else {
            // variable size: always a count, then each value with its length
            let n = r.u32()? as usize;
            for _ in 0..n {
                let len = r.u32()? as usize;
                let v = r.padded(len)?;
                if multi {
                    continue;
                }
                value = match base {
                    PT_UNICODE => Value::Text(text16(v)),
                    PT_STRING8 => Value::Text(text8(v)),
                    PT_BINARY => Value::Bytes(v.to_vec()),
                    PT_OBJECT => Value::Object(v.get(16..).unwrap_or_default().to_vec()),
                    _ => Value::Other,
                };
            }
        }
        out.push(Property { id, value });
    }
    Some(out)
}

/// The dictionary's initial contents (MS-OXRTFCP §2.1.2.1).
const RTF_PREBUF: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \
\\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier\
{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

/// Decompresses PR_RTF_COMPRESSED (MS-OXRTFCP): `LZFu` (compressed) or `MELA` (stored).
pub fn rtf_decompress(data: &[u8]) -> Option<Vec<u8>> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(data.get(i..i + 4)?.try_into().ok()?))
    };
    let (comp_size, raw_size, kind) = (word(0)? as usize, word(4)? as usize, word(8)?);
    let body = data.get(16..(comp_size + 4).min(data.len()))?;
    match &kind.to_le_bytes() {
        b"MELA" => return Some(body.get(..raw_size.min(body.len()))?.to_vec()),
        b"LZFu" => {}
        _ => return None,
    }
    let mut dict = [0u8; 4096];
    dict[..RTF_PREBUF.len()].copy_from_slice(RTF_PREBUF);
    let mut write = RTF_PREBUF.len();
    // raw_size is only a hint: never trust it for an allocation beyond the input's reach
    let mut out = Vec::with_capacity(raw_size.min(body.len() * 8));
    let mut i = 0;
    'runs: while i < body.len() {
        let control = body[i];
        i += 1;
        for bit in 0..8 {
            if control & (1 << bit) == 0 {
                let Some(&b) = body.get(i) else {
                    break 'runs;
                };
                i += 1;
                out.push(b);
                dict[write] = b;
                write = (write + 1) % 4096;
            } else {
                let token = u16::from_be_bytes(body.get(i..i + 2)?.try_into().ok()?);
                i += 2;
                let offset = usize::from(token >> 4);
                let len = usize::from(token & 0xF) + 2;
                if offset == write {
                    break 'runs; // the end marker
                }
                for k in 0..len {
                    let b = dict[(offset + k) % 4096];
                    out.push(b);
                    dict[write] = b;
                    write = (write + 1) % 4096;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/corpus/eml/tnef")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn reads_attachments_and_bodies_of_real_winmail_dat_files() {
        let one = parse(&corpus("one-file.tnef")).unwrap();
        assert_eq!(one.attachments.len(), 1);
        assert!(
            one.attachments[0].title.is_some() && !one.attachments[0].data.is_empty(),
            "{:?}",
            one.attachments[0].title
        );
        let two = parse(&corpus("two-files.tnef")).unwrap();
        assert_eq!(two.attachments.len(), 2);
        assert!(parse(b"not tnef").is_none());
        // cut short: no panic, no result
        let cut = corpus("two-files.tnef");
        assert!(parse(&cut[..cut.len() / 2]).is_none());
    }

    #[test]
    fn long_file_names_come_from_the_mapi_properties() {
        let t = parse(&corpus("long-filename.tnef")).unwrap();
        let names: Vec<_> = t.attachments.iter().map(|a| a.title.clone()).collect();
        assert!(
            names
                .iter()
                .flatten()
                .any(|n| n.len() > 12 && !n.contains('~')),
            "{names:?}"
        );
    }

    #[test]
    fn the_rtf_body_is_decompressed() {
        assert_eq!(RTF_PREBUF.len(), 207);
        let t = parse(&corpus("rtf.tnef")).unwrap();
        let rtf = t.rtf.expect("an RTF body");
        assert!(
            rtf.starts_with(b"{\\rtf1"),
            "{:?}",
            &rtf[..20.min(rtf.len())]
        );
        assert!(rtf.ends_with(b"}") || rtf.ends_with(b"}\0") || rtf.contains(&b'}'));
    }

    #[test]
    fn the_specification_example_decompresses() {
        // MS-OXRTFCP §3.1.1: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n"
        let compressed: [u8; 0x2d] = [
            0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5,
            0xc7, 0xa7, 0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42,
            0x32, 0x0a, 0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0,
            0x6c, 0x64, 0x7d,
        ];
        let mut data = compressed.to_vec();
        data.extend_from_slice(&[0x0a, 0x80, 0x0f, 0xa0]);
        assert_eq!(
            rtf_decompress(&data).unwrap(),
            b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
        );
    }

    #[test]
    fn damaged_rtf_gives_none_or_bytes_never_a_panic() {
        for n in 0..40 {
            let mut data = b"\x30\0\0\0\xff\xff\xff\x7fLZFu\0\0\0\0".to_vec();
            data.extend((0..n).map(|i| (i * 37 % 256) as u8));
            let _ = rtf_decompress(&data);
        }
    }

    mod fuzz {
        //! Bounded fuzzing (proptest, in `make test`): real winmail.dat files of the corpus with
        //! bytes changed, inserted or cut, and compressed RTF of any shape: never a panic, and
        //! no output larger than the bounds the reader keeps.
        use super::super::*;
        use proptest::prelude::*;

        fn files() -> Vec<Vec<u8>> {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/eml/tnef");
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            names.iter().map(|p| std::fs::read(p).unwrap()).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn damaged_winmail_files_never_panic(
                pick in any::<prop::sample::Index>(),
                edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..12),
            ) {
                let all = files();
                let mut bytes = pick.get(&all).clone();
                for (at, byte, how) in edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = at.index(bytes.len());
                    match how {
                        0 => bytes[i] = byte,
                        1 => bytes.insert(i, byte),
                        _ => bytes.truncate(i),
                    }
                }
                if let Some(t) = parse(&bytes) {
                    let total: usize = t.attachments.iter().map(|a| a.data.len()).sum();
                    prop_assert!(total <= bytes.len());
                }
            }

            #[test]
            fn compressed_rtf_of_any_shape_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
                let _ = rtf_decompress(&bytes);
            }
        }
    }
}
