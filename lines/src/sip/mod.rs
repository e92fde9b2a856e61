//! SIP with T.38 and G.711 (issue 4), built up in pure, tested pieces: `sdp` (the media
//! descriptions and their offer/answer rules), `udptl` (the T.38 transport with redundancy) and
//! `spandsp` (the T.30 engine, libspandsp's T.38 terminal behind a safe layer), and `outcome`
//! (SIP status, Q.850 cause and T.30 code to one RFC 3463 code), `message` (SIP messages read
//! and written), `digest` (trunk authentication), `g711` (μ-law and A-law, for faxes as
//! audio), `transaction` (RFC 3261 §17 retransmission and timeout machines), `dialog` (the
//! requests of a call), `rtp` (G.711 audio packets, reordered, losses as silence) and `media`
//! (a T.38 session in real time on a UDP socket). The user
//! agent on its SIP socket, and the line that puts them together, follow.

pub mod agent;
pub mod config;
pub mod dialog;
pub mod digest;
#[cfg(feature = "test-support")]
pub mod far;
pub mod g711;
pub mod line;
pub mod media;
pub mod message;
pub mod outcome;
pub mod rtp;
pub mod sdp;
pub mod simulate;
pub mod spandsp;
pub mod transaction;
pub mod udptl;
