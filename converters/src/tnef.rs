//! TNEF (`winmail.dat`, `application/ms-tnef`, MS-OXTNEF): what Exchange and Outlook wrap a
//! message's attachments and body in when they send "rich text". Reads the attachment blocks
//! (attAttachRendData starts one, attAttachTitle names it, attAttachData holds it) and the plain
//! body (attBody). MAPI property blocks (long file names, RTF bodies) are not decoded yet. Pure;
//! a damaged stream gives an error, never a panic.

/// TNEF_SIGNATURE, little-endian.
pub const SIGNATURE: [u8; 4] = [0x78, 0x9f, 0x3e, 0x22];

const ATT_BODY: u32 = 0x0002_800C;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tnef {
    pub body: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    pub title: Option<String>,
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
            ATT_BODY => {
                out.body = Some(
                    String::from_utf8_lossy(data)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            ATT_ATTACH_REND_DATA => out.attachments.push(Attachment::default()),
            ATT_ATTACH_TITLE => {
                if let Some(a) = out.attachments.last_mut() {
                    a.title = Some(
                        String::from_utf8_lossy(data)
                            .trim_end_matches('\0')
                            .to_string(),
                    );
                }
            }
            ATT_ATTACH_DATA => {
                if let Some(a) = out.attachments.last_mut() {
                    a.data = data.to_vec();
                }
            }
            _ => {}
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
}
