//! SIP with T.38 and G.711 (issue 4), built up in pure, tested pieces: `sdp` first (the media
//! descriptions and their offer/answer rules); the UDPTL transport, the T.30 engine on
//! libspandsp and the user agent follow.

pub mod sdp;
