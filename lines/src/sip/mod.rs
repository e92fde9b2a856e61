//! SIP with T.38 and G.711 (issue 4), built up in pure, tested pieces: `sdp` (the media
//! descriptions and their offer/answer rules) and `udptl` (the T.38 transport with redundancy).
//! The T.30 engine on libspandsp and the user agent follow.

pub mod sdp;
pub mod udptl;
