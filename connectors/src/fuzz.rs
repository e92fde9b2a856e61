//! Bounded fuzzing of what clients and agents' folders hand the connectors (proptest, in
//! `make test`): SMTP envelope paths and xtext, Exchange drop-file envelopes, GroupWise keyword
//! files, Subjects that list numbers, random and as mutations of real ones. Nothing may panic.

use crate::agents::groupwise::keyword::KeywordFile;
use crate::smtp::address::{decode_xtext, parse_path_and_params};
use proptest::prelude::*;

/// `base` with a few characters changed, inserted or removed.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let chars: Vec<char> = base.chars().collect();
    let len = chars.len();
    prop::collection::vec((0..len, any::<char>(), 0..3u8), 0..6).prop_map(move |edits| {
        let mut out = chars.clone();
        for (at, c, how) in edits {
            let at = at.min(out.len().saturating_sub(1));
            match how {
                0 if !out.is_empty() => out[at] = c,
                1 => out.insert(at, c),
                _ if !out.is_empty() => {
                    out.remove(at);
                }
                _ => {}
            }
        }
        out.into_iter().collect()
    })
}

const KEYWORDS: &str = "WPC-API= 1.2;\nHeader-Char= T50;\nMsg-Type= Mail;\nTo=\n    WPD= CORP;\n    \
WPPO= PO1;\n    WPU= jdoe;\n;\nFrom-Text= Fax <fax@example.com>;\nSubject= Devis;\nAttach-File=\n    \
Current-File= 1234.att;\n    Original-File= devis.pdf;\n;\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn subject_numbers_never_panic(
        arg in ".{0,300}",
        mutation in mutated("[Fax: +33 (0)1 69 29 39 99; 030/1234567] Angebot, RE: Telefax : 12"),
    ) {
        for text in [&arg, &mutation] {
            if let Some(found) = crate::subject_numbers::find(text) {
                // what is taken is in the Subject, and what is left is shorter than it
                for number in &found.numbers {
                    prop_assert!(text.contains(number.as_str()));
                }
                prop_assert!(found.rest.len() < text.len());
            }
        }
    }

    #[test]
    fn envelope_paths_never_panic(arg in ".{0,300}", mutation in mutated("<\"a b\"@example.com> RET=FULL ENVID=A+2B1 SIZE=10")) {
        for text in [&arg, &mutation] {
            if let Ok((path, params)) = parse_path_and_params(text) {
                prop_assert!(path.raw.len() <= text.len());
                for (_, v) in params.iter() {
                    if let Some(v) = v {
                        let _ = decode_xtext(v);
                    }
                }
            }
            let _ = decode_xtext(text);
        }
    }

    #[test]
    fn drop_file_envelopes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), mutation in mutated("X-Sender: <alice@contoso.com> RET=HDRS ENVID=E1\r\nX-Receiver: <0169293999@fax.localhost> NOTIFY=SUCCESS ORCPT=rfc822;0169293999@fax.localhost\r\n\r\nSubject: x\r\n\r\nbody\r\n")) {
        let _ = crate::agents::exchange::fuzz_read(&bytes);
        let _ = crate::agents::exchange::fuzz_read(mutation.as_bytes());
    }

    #[test]
    fn groupwise_keyword_files_never_panic(text in ".{0,600}", mutation in mutated(KEYWORDS)) {
        for t in [&text, &mutation] {
            if let Ok(file) = KeywordFile::parse(t) {
                let _ = (file.text("Subject"), file.blocks("To").count());
            }
        }
    }
}
