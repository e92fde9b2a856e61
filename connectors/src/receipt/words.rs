//! What receipts say, in the languages faxhub speaks (English, French, German): subjects,
//! labels, and each RFC 3463 code an outcome can carry in plain words. The technical reason the
//! line or converter gave follows the plain words, untranslated.

use faxhub_queue::EnhancedStatus;
use faxhub_queue::dsn::Action;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
    De,
}

impl Language {
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::De => "de",
        }
    }
}

/// The fixed texts of one language.
pub struct Words {
    pub subject: fn(Action) -> &'static str,
    /// Between what happened and the original subject (French puts a space before a colon).
    pub colon: &'static str,
    /// "to" before the numbers in a subject.
    pub to: &'static str,
    pub no_subject: &'static str,
    /// The opening sentence, with `{}` for the recipients.
    pub opening: fn(Action) -> &'static str,
    pub closing: fn(Action) -> &'static str,
    pub recipient: &'static str,
    pub result: &'static str,
    pub pages: &'static str,
    /// "{sent} of {total} pages confirmed by the receiving machine".
    pub pages_of: &'static str,
    pub remote_id: &'static str,
    pub speed: &'static str,
    pub ecm_on: &'static str,
    pub ecm_off: &'static str,
    pub duration: &'static str,
    pub attempts: &'static str,
    pub submitted: &'static str,
    pub last_attempt: &'static str,
    pub next_attempt: &'static str,
    pub retry_until: &'static str,
    pub document: &'static str,
    pub job: &'static str,
    pub billing: &'static str,
    /// The pages each call carried, for a fax resumed after a dropped call.
    pub calls: &'static str,
    /// "pages {} to {}" and "page {}" in that row.
    pub page_range: &'static str,
    pub one_page: &'static str,
    /// What is attached, for a fax sent (true) or not; `{}` for the format (PDF, TIFF).
    pub attached: fn(bool) -> &'static str,
}

pub fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Fr => &FR,
        Language::De => &DE,
    }
}

static EN: Words = Words {
    subject: |a| match a {
        Action::Delivered => "Fax delivered",
        Action::Failed => "Fax failed",
        Action::Delayed => "Fax delayed",
    },
    colon: ": ",
    to: "to",
    no_subject: "(no subject)",
    opening: |a| match a {
        Action::Delivered => "Your fax to {} was delivered.",
        Action::Failed => "Your fax to {} could not be delivered.",
        Action::Delayed => "Your fax to {} has not been delivered yet.",
    },
    closing: |a| match a {
        Action::Delivered => "",
        Action::Failed => {
            "faxhub will not try again. Check the number, or send the fax again later."
        }
        Action::Delayed => {
            "faxhub keeps trying; you will get another report when the fax is delivered or fails. There is nothing you need to do."
        }
    },
    recipient: "Recipient",
    result: "Result",
    pages: "Pages",
    pages_of: "{} of {} confirmed by the receiving machine",
    remote_id: "Remote fax ID",
    speed: "Speed",
    ecm_on: "error correction (ECM) on",
    ecm_off: "no error correction",
    duration: "Duration",
    attempts: "Attempts",
    submitted: "Submitted",
    last_attempt: "Last attempt",
    next_attempt: "Next attempt",
    retry_until: "Tries until",
    document: "Document",
    job: "Fax job",
    billing: "Billing code",
    calls: "Pages per call",
    page_range: "pages {} to {}",
    one_page: "page {}",
    attached: |sent| match sent {
        true => "The pages as they were faxed are attached ({}).",
        false => "The pages that were to be faxed are attached ({}).",
    },
};

static FR: Words = Words {
    subject: |a| match a {
        Action::Delivered => "Fax remis",
        Action::Failed => "Échec du fax",
        Action::Delayed => "Fax en attente",
    },
    colon: " : ",
    to: "au",
    no_subject: "(sans objet)",
    opening: |a| match a {
        Action::Delivered => "Votre fax pour {} a été remis.",
        Action::Failed => "Votre fax pour {} n'a pas pu être remis.",
        Action::Delayed => "Votre fax pour {} n'a pas encore été remis.",
    },
    closing: |a| match a {
        Action::Delivered => "",
        Action::Failed => {
            "faxhub n'essaiera plus. Vérifiez le numéro ou renvoyez le fax plus tard."
        }
        Action::Delayed => {
            "faxhub continue d'essayer ; vous recevrez un autre avis quand le fax sera remis ou aura échoué. Vous n'avez rien à faire."
        }
    },
    recipient: "Destinataire",
    result: "Résultat",
    pages: "Pages",
    pages_of: "{} sur {} confirmées par le télécopieur distant",
    remote_id: "Identifiant du fax distant",
    speed: "Vitesse",
    ecm_on: "correction d'erreurs (ECM) active",
    ecm_off: "sans correction d'erreurs",
    duration: "Durée",
    attempts: "Tentatives",
    submitted: "Déposé le",
    last_attempt: "Dernière tentative",
    next_attempt: "Prochaine tentative",
    retry_until: "Essais jusqu'au",
    document: "Document",
    job: "Travail de fax",
    billing: "Code de facturation",
    calls: "Pages par appel",
    page_range: "pages {} à {}",
    one_page: "page {}",
    attached: |sent| match sent {
        true => "Les pages telles qu'elles ont été faxées sont jointes ({}).",
        false => "Les pages à faxer sont jointes ({}).",
    },
};

static DE: Words = Words {
    subject: |a| match a {
        Action::Delivered => "Fax zugestellt",
        Action::Failed => "Fax fehlgeschlagen",
        Action::Delayed => "Fax verzögert",
    },
    colon: ": ",
    to: "an",
    no_subject: "(kein Betreff)",
    opening: |a| match a {
        Action::Delivered => "Ihr Fax an {} wurde zugestellt.",
        Action::Failed => "Ihr Fax an {} konnte nicht zugestellt werden.",
        Action::Delayed => "Ihr Fax an {} wurde noch nicht zugestellt.",
    },
    closing: |a| match a {
        Action::Delivered => "",
        Action::Failed => {
            "faxhub versucht es nicht weiter. Prüfen Sie die Nummer oder senden Sie das Fax später erneut."
        }
        Action::Delayed => {
            "faxhub versucht es weiter; Sie erhalten eine weitere Nachricht, wenn das Fax zugestellt ist oder fehlschlägt. Sie müssen nichts tun."
        }
    },
    recipient: "Empfänger",
    result: "Ergebnis",
    pages: "Seiten",
    pages_of: "{} von {} vom Empfangsgerät bestätigt",
    remote_id: "Kennung der Gegenstelle",
    speed: "Geschwindigkeit",
    ecm_on: "Fehlerkorrektur (ECM) an",
    ecm_off: "ohne Fehlerkorrektur",
    duration: "Dauer",
    attempts: "Versuche",
    submitted: "Eingereicht",
    last_attempt: "Letzter Versuch",
    next_attempt: "Nächster Versuch",
    retry_until: "Versuche bis",
    document: "Dokument",
    job: "Faxauftrag",
    billing: "Kostenstelle",
    calls: "Seiten je Anruf",
    page_range: "Seiten {} bis {}",
    one_page: "Seite {}",
    attached: |sent| match sent {
        true => "Die gefaxten Seiten sind angehängt ({}).",
        false => "Die zu faxenden Seiten sind angehängt ({}).",
    },
};

/// An outcome's code in plain words.
pub fn status_words(language: Language, status: EnhancedStatus) -> &'static str {
    let i = match language {
        Language::En => 0,
        Language::Fr => 1,
        Language::De => 2,
    };
    let code = (status.class, status.subject, status.detail);
    let row = STATUS_WORDS
        .iter()
        .find(|(c, _)| *c == code)
        .or_else(|| {
            // the class and subject, then the class alone
            STATUS_WORDS
                .iter()
                .find(|(c, _)| (c.0, c.1, 0) == (code.0, code.1, 0) && c.2 == 0)
        })
        .or_else(|| STATUS_WORDS.iter().find(|(c, _)| *c == (code.0, 0, 0)));
    row.map(|(_, w)| w[i]).unwrap_or(match language {
        Language::En => "an unexpected error",
        Language::Fr => "une erreur inattendue",
        Language::De => "ein unerwarteter Fehler",
    })
}

type Phrase = ((u8, u16, u16), [&'static str; 3]);

static STATUS_WORDS: &[Phrase] = &[
    ((2, 0, 0), ["delivered", "remis", "zugestellt"]),
    (
        (2, 6, 4),
        [
            "delivered, after converting with some loss of quality",
            "remis, après une conversion avec perte de qualité",
            "zugestellt, nach einer Umwandlung mit Qualitätsverlust",
        ],
    ),
    (
        (4, 0, 0),
        [
            "a temporary failure",
            "un échec temporaire",
            "ein vorübergehender Fehler",
        ],
    ),
    (
        (4, 2, 2),
        [
            "the receiving fax machine was not ready (out of paper or memory)",
            "le télécopieur distant n'était pas prêt (plus de papier ou de mémoire)",
            "das Empfangsgerät war nicht bereit (kein Papier oder Speicher)",
        ],
    ),
    (
        (4, 3, 0),
        [
            "a temporary problem on the fax server",
            "un problème temporaire sur le serveur de fax",
            "ein vorübergehendes Problem auf dem Faxserver",
        ],
    ),
    (
        (4, 4, 0),
        [
            "a network problem",
            "un problème de réseau",
            "ein Netzwerkproblem",
        ],
    ),
    (
        (4, 4, 1),
        [
            "the line was busy or did not answer",
            "la ligne était occupée ou ne répondait pas",
            "die Leitung war besetzt oder hat nicht geantwortet",
        ],
    ),
    (
        (4, 4, 2),
        [
            "the connection to the fax machine failed or was cut",
            "la liaison avec le télécopieur a échoué ou a été coupée",
            "die Verbindung zum Faxgerät ist fehlgeschlagen oder abgebrochen",
        ],
    ),
    (
        (4, 4, 5),
        [
            "the telephone network was congested",
            "le réseau téléphonique était saturé",
            "das Telefonnetz war überlastet",
        ],
    ),
    (
        (4, 4, 7),
        [
            "the fax could not be sent in the time allowed",
            "le fax n'a pas pu être envoyé dans le délai prévu",
            "das Fax konnte nicht in der vorgesehenen Zeit gesendet werden",
        ],
    ),
    (
        (5, 0, 0),
        [
            "a permanent failure",
            "un échec définitif",
            "ein dauerhafter Fehler",
        ],
    ),
    (
        (5, 1, 1),
        [
            "the number does not exist",
            "le numéro n'existe pas",
            "die Nummer existiert nicht",
        ],
    ),
    (
        (5, 1, 3),
        [
            "the number is not a valid fax number",
            "le numéro n'est pas un numéro de fax valide",
            "die Nummer ist keine gültige Faxnummer",
        ],
    ),
    (
        (5, 3, 4),
        [
            "the document is too large or has too many pages",
            "le document est trop volumineux ou a trop de pages",
            "das Dokument ist zu groß oder hat zu viele Seiten",
        ],
    ),
    (
        (5, 4, 2),
        [
            "the number answered, but not with a fax machine",
            "le numéro a répondu, mais pas avec un télécopieur",
            "unter der Nummer hat kein Faxgerät geantwortet",
        ],
    ),
    (
        (5, 6, 0),
        [
            "the document could not be made into fax pages",
            "le document n'a pas pu être mis en pages de fax",
            "das Dokument konnte nicht in Faxseiten umgewandelt werden",
        ],
    ),
    (
        (5, 6, 1),
        [
            "the receiving fax machine cannot take these pages",
            "le télécopieur distant ne peut pas recevoir ces pages",
            "das Empfangsgerät kann diese Seiten nicht annehmen",
        ],
    ),
    (
        (5, 6, 3),
        [
            "an attachment is of a type that cannot be faxed",
            "une pièce jointe est d'un type qui ne peut pas être faxé",
            "ein Anhang hat einen Typ, der nicht gefaxt werden kann",
        ],
    ),
    (
        (5, 6, 5),
        [
            "an attachment could not be converted",
            "une pièce jointe n'a pas pu être convertie",
            "ein Anhang konnte nicht umgewandelt werden",
        ],
    ),
    (
        (5, 7, 1),
        [
            "sending to this number is not allowed",
            "l'envoi vers ce numéro n'est pas autorisé",
            "das Senden an diese Nummer ist nicht erlaubt",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_words_in_every_language() {
        for lang in [Language::En, Language::Fr, Language::De] {
            assert_eq!(
                status_words(lang, EnhancedStatus::BUSY),
                STATUS_WORDS.iter().find(|r| r.0 == (4, 4, 1)).unwrap().1[lang as usize]
            );
            for (_, w) in STATUS_WORDS {
                assert!(w.iter().all(|s| !s.is_empty()));
            }
        }
        assert_eq!(
            status_words(Language::Fr, EnhancedStatus::BUSY),
            "la ligne était occupée ou ne répondait pas"
        );
        // an unlisted detail falls back to its class
        assert_eq!(
            status_words(Language::De, EnhancedStatus::new(5, 2, 9)),
            "ein dauerhafter Fehler"
        );
        assert_eq!(
            status_words(Language::En, EnhancedStatus::new(4, 4, 9)),
            "a network problem"
        );
    }
}
