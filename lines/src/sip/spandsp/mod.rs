//! The T.30 engine: a safe layer over libspandsp's T.38 terminal and its audio fax modem
//! (Debian's libspandsp2, linked dynamically; `ffi` declares the few functions used).
//!
//! A `T38Terminal` sends or receives one TIFF-F file. It does no I/O and keeps no clock: its
//! owner feeds it the IFP packets that arrived (`receive_ifp`, with their UDPTL sequence
//! numbers), moves time on (`tick`, in 8 kHz samples), and sends what it produced
//! (`take_outgoing`). spandsp's phase callbacks are turned into `Progress`: the remote ident
//! (phase B), pages confirmed by the receiver and the transfer statistics (phase D), and the
//! completion code (phase E). One terminal is used by one task at a time.

mod ffi;

use std::ffi::{CStr, CString, c_int, c_void};
use std::path::Path;
use std::ptr::NonNull;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpandspError {
    #[error("libspandsp could not make a T.38 terminal")]
    Init,
    #[error("{0}: not a path libspandsp can open")]
    Path(String),
}

/// The fastest modem to offer (ITU-T V.17 14.4k, V.29 9.6k, V.27ter 4.8k).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modem {
    V17,
    V29,
    V27ter,
}

impl Modem {
    fn mask(self) -> c_int {
        match self {
            Modem::V17 => ffi::T30_SUPPORT_V17 | ffi::T30_SUPPORT_V29 | ffi::T30_SUPPORT_V27TER,
            Modem::V29 => ffi::T30_SUPPORT_V29 | ffi::T30_SUPPORT_V27TER,
            Modem::V27ter => ffi::T30_SUPPORT_V27TER,
        }
    }
    fn bit_rate(self) -> c_int {
        match self {
            Modem::V17 => 14_400,
            Modem::V29 => 9_600,
            Modem::V27ter => 4_800,
        }
    }
}

/// The best page coding to offer: MMR (T.6, needs ECM), MR (T.4 2-D) or MH (T.4 1-D). The
/// sender re-codes each page for what the receiver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coding {
    Mmr,
    Mr,
    Mh,
}

impl Coding {
    fn mask(self) -> c_int {
        match self {
            Coding::Mmr => {
                ffi::T30_SUPPORT_T6_COMPRESSION
                    | ffi::T30_SUPPORT_T4_2D_COMPRESSION
                    | ffi::T30_SUPPORT_T4_1D_COMPRESSION
            }
            Coding::Mr => ffi::T30_SUPPORT_T4_2D_COMPRESSION | ffi::T30_SUPPORT_T4_1D_COMPRESSION,
            Coding::Mh => ffi::T30_SUPPORT_T4_1D_COMPRESSION,
        }
    }
}

/// How one side of a fax is set up.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The calling side (it sends CNG); faxhub calls when it sends.
    pub calling: bool,
    /// Our TSI/CSI, at most 20 characters (longer is cut).
    pub ident: String,
    /// The header line printed at the top of each sent page (name, number; spandsp adds the
    /// date and page x/y), if any.
    pub header: Option<String>,
    pub ecm: bool,
    pub fastest: Modem,
    pub coding: Coding,
    pub t38_version: u8,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            calling: true,
            ident: String::new(),
            header: None,
            ecm: true,
            fastest: Modem::V17,
            coding: Coding::Mmr,
            t38_version: 0,
        }
    }
}

/// What the fax has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The far end's TSI or CSI, once phase B has passed.
    pub remote_ident: Option<String>,
    /// Pages the receiver confirmed (sending), or received (receiving).
    pub pages: u32,
    pub bit_rate: u32,
    pub ecm: bool,
    /// The page coding the machines agreed on.
    pub coding: Option<Coding>,
    /// Bad rows in the last page received.
    pub bad_rows: u32,
    /// spandsp's completion code (`t30_err_e`, 0 = OK) and its words, once phase E has passed.
    pub completion: Option<(i32, String)>,
}

/// State the callbacks write into: boxed, so its address stays put while spandsp holds it.
#[derive(Default)]
struct Shared {
    sending: bool,
    outgoing: Vec<Vec<u8>>,
    progress: Progress,
}

pub struct T38Terminal {
    raw: NonNull<ffi::t38_terminal_state_t>,
    shared: Box<Shared>,
    _file: CString,
}

// spandsp's state has no thread affinity (no thread-locals, no locks): it may move between
// threads as long as one uses it at a time, which `&mut self` on every call ensures.
unsafe impl Send for T38Terminal {}

impl Shared {
    /// A new state for a terminal, and the pointer spandsp's callbacks get to it.
    fn boxed(sending: bool) -> (Box<Shared>, *mut c_void) {
        let mut shared = Box::new(Shared {
            sending,
            ..Shared::default()
        });
        let user_data = &mut *shared as *mut Shared as *mut c_void;
        (shared, user_data)
    }
}

unsafe extern "C" fn on_tx_packet(
    _core: *mut ffi::t38_core_state_t,
    user_data: *mut c_void,
    buf: *const u8,
    len: c_int,
    _count: c_int,
) -> c_int {
    // SAFETY: user_data is the terminal's boxed Shared, alive as long as the terminal; buf/len
    // describe spandsp's packet for the duration of the call.
    let shared = unsafe { &mut *(user_data as *mut Shared) };
    if !buf.is_null() && len > 0 {
        let ifp = unsafe { std::slice::from_raw_parts(buf, len as usize) };
        // UDPTL redundancy repeats packets; spandsp's own repeat count is not needed
        shared.outgoing.push(ifp.to_vec());
    }
    0
}

/// Copies the transfer statistics into the progress.
///
/// # Safety
/// `t30` must be a live T.30 state and `user_data` the terminal's `Shared`.
unsafe fn record_stats(t30: *mut ffi::t30_state_t, user_data: *mut c_void) {
    let shared = unsafe { &mut *(user_data as *mut Shared) };
    let mut stats = ffi::t30_stats_t::default();
    unsafe { ffi::t30_get_transfer_statistics(t30, &mut stats) };
    let p = &mut shared.progress;
    p.pages = if shared.sending {
        stats.pages_tx
    } else {
        stats.pages_rx
    }
    .max(0) as u32;
    p.bit_rate = stats.bit_rate.max(0) as u32;
    p.ecm = stats.error_correcting_mode != 0;
    p.bad_rows = stats.bad_rows.max(0) as u32;
    // T4_COMPRESSION_ITU_T4_1D, _T4_2D, _T6 (spandsp 0.0.6)
    p.coding = match stats.encoding {
        1 => Some(Coding::Mh),
        2 => Some(Coding::Mr),
        3 => Some(Coding::Mmr),
        _ => p.coding,
    };
}

unsafe extern "C" fn on_phase_b(
    t30: *mut ffi::t30_state_t,
    user_data: *mut c_void,
    _result: c_int,
) -> c_int {
    let shared = unsafe { &mut *(user_data as *mut Shared) };
    let ident = unsafe { ffi::t30_get_rx_ident(t30) };
    if !ident.is_null() {
        let text = unsafe { CStr::from_ptr(ident) }
            .to_string_lossy()
            .trim()
            .to_string();
        shared.progress.remote_ident = (!text.is_empty()).then_some(text);
    }
    unsafe { record_stats(t30, user_data) };
    0
}

unsafe extern "C" fn on_phase_d(
    t30: *mut ffi::t30_state_t,
    user_data: *mut c_void,
    _result: c_int,
) -> c_int {
    unsafe { record_stats(t30, user_data) };
    0
}

unsafe extern "C" fn on_phase_e(t30: *mut ffi::t30_state_t, user_data: *mut c_void, code: c_int) {
    unsafe { record_stats(t30, user_data) };
    let shared = unsafe { &mut *(user_data as *mut Shared) };
    let words = unsafe { ffi::t30_completion_code_to_str(code) };
    let words = if words.is_null() {
        format!("T.30 completion code {code}")
    } else {
        unsafe { CStr::from_ptr(words) }
            .to_string_lossy()
            .into_owned()
    };
    shared.progress.completion = Some((code, words));
}

/// Our ident, header line, ECM, modems, the file and the phase handlers on a T.30 engine.
///
/// # Safety
/// `t30` must be a live T.30 state; `file` and `user_data` (the terminal's `Shared`) must live
/// as long as it.
unsafe fn configure_t30(
    t30: *mut ffi::t30_state_t,
    config: &TerminalConfig,
    sending: bool,
    file: &CString,
    user_data: *mut c_void,
) {
    let ident: String = config
        .ident
        .chars()
        .filter(|c| c.is_ascii())
        .take(20)
        .collect();
    let ident = CString::new(ident).unwrap_or_default();
    // SAFETY: per the contract above; spandsp copies the ident and header strings.
    unsafe {
        ffi::t30_set_tx_ident(t30, ident.as_ptr());
        if let Some(header) = &config.header
            && let Ok(header) = CString::new(header.as_str())
        {
            ffi::t30_set_tx_page_header_info(t30, header.as_ptr());
        }
        ffi::t30_set_ecm_capability(t30, c_int::from(config.ecm));
        ffi::t30_set_supported_modems(t30, config.fastest.mask());
        ffi::t30_set_supported_compressions(t30, config.coding.mask());
        if sending {
            ffi::t30_set_tx_file(t30, file.as_ptr(), -1, -1);
        } else {
            ffi::t30_set_rx_file(t30, file.as_ptr(), -1);
        }
        ffi::t30_set_phase_b_handler(t30, on_phase_b, user_data);
        ffi::t30_set_phase_d_handler(t30, on_phase_d, user_data);
        ffi::t30_set_phase_e_handler(t30, on_phase_e, user_data);
    }
}

/// The C string of a file path.
fn c_path(path: &Path) -> Result<CString, SpandspError> {
    let text = path
        .to_str()
        .ok_or_else(|| SpandspError::Path(path.display().to_string()))?;
    CString::new(text).map_err(|_| SpandspError::Path(text.to_string()))
}

impl T38Terminal {
    /// A terminal that sends `tiff` (all its pages).
    pub fn sender(config: &TerminalConfig, tiff: &Path) -> Result<T38Terminal, SpandspError> {
        T38Terminal::new(config, tiff, true)
    }

    /// A terminal that receives into `tiff`.
    pub fn receiver(config: &TerminalConfig, tiff: &Path) -> Result<T38Terminal, SpandspError> {
        T38Terminal::new(config, tiff, false)
    }

    fn new(
        config: &TerminalConfig,
        tiff: &Path,
        sending: bool,
    ) -> Result<T38Terminal, SpandspError> {
        let file = c_path(tiff)?;
        let (shared, user_data) = Shared::boxed(sending);
        // SAFETY: a null state asks spandsp to allocate one; the handler and user data stay
        // valid for the terminal's life (freed in Drop before `shared`).
        let raw = unsafe {
            ffi::t38_terminal_init(
                std::ptr::null_mut(),
                c_int::from(config.calling),
                on_tx_packet,
                user_data,
            )
        };
        let raw = NonNull::new(raw).ok_or(SpandspError::Init)?;
        let terminal = T38Terminal {
            raw,
            shared,
            _file: file,
        };
        // SAFETY: raw is a live terminal.
        unsafe {
            let t30 = ffi::t38_terminal_get_t30_state(raw.as_ptr());
            let core = ffi::t38_terminal_get_t38_core_state(raw.as_ptr());
            ffi::t38_terminal_set_config(raw.as_ptr(), 0);
            ffi::t38_set_t38_version(core, c_int::from(config.t38_version));
            ffi::t38_set_data_rate_management_method(
                core,
                ffi::T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF,
            );
            ffi::t38_set_fastest_image_data_rate(core, config.fastest.bit_rate());
            // UDPTL carries the redundancy: each IFP goes out once from spandsp
            for category in [
                ffi::T38_PACKET_CATEGORY_INDICATOR,
                ffi::T38_PACKET_CATEGORY_CONTROL_DATA,
                ffi::T38_PACKET_CATEGORY_CONTROL_DATA_END,
                ffi::T38_PACKET_CATEGORY_IMAGE_DATA,
                ffi::T38_PACKET_CATEGORY_IMAGE_DATA_END,
            ] {
                ffi::t38_set_redundancy_control(core, category, 1);
            }
            configure_t30(t30, config, sending, &terminal._file, user_data);
        }
        Ok(terminal)
    }

    /// Moves the terminal's time on by `samples` (8,000 a second; 160 = 20 ms). Returns true
    /// once the fax is over (phase E has passed).
    pub fn tick(&mut self, samples: u32) -> bool {
        // SAFETY: raw is live and used by this one caller.
        let done = unsafe { ffi::t38_terminal_send_timeout(self.raw.as_ptr(), samples as c_int) };
        done != 0 || self.shared.progress.completion.is_some()
    }

    /// Hands over one IFP packet received with UDPTL sequence number `seq`.
    pub fn receive_ifp(&mut self, ifp: &[u8], seq: u16) {
        // SAFETY: raw is live; the slice is valid for the call.
        unsafe {
            let core = ffi::t38_terminal_get_t38_core_state(self.raw.as_ptr());
            ffi::t38_core_rx_ifp_packet(core, ifp.as_ptr(), ifp.len() as c_int, seq);
        }
    }

    /// The IFP packets produced since the last call, oldest first.
    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.shared.outgoing)
    }

    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }
}

impl Drop for T38Terminal {
    fn drop(&mut self) {
        // SAFETY: raw was made by t38_terminal_init and is freed once; `shared` outlives it.
        unsafe {
            ffi::t38_terminal_free(self.raw.as_ptr());
        }
    }
}

/// A fax over audio (G.711 pass-through): libspandsp's V.17/V.29/V.27ter modems and T.30, fed
/// and drained 16-bit linear samples at 8 kHz.
pub struct AudioTerminal {
    raw: NonNull<ffi::fax_state_t>,
    shared: Box<Shared>,
    _file: CString,
}

// As for T38Terminal: no thread affinity, one user at a time through `&mut self`.
unsafe impl Send for AudioTerminal {}

impl AudioTerminal {
    /// A terminal that sends `tiff` (all its pages).
    pub fn sender(config: &TerminalConfig, tiff: &Path) -> Result<AudioTerminal, SpandspError> {
        AudioTerminal::new(config, tiff, true)
    }

    /// A terminal that receives into `tiff`.
    pub fn receiver(config: &TerminalConfig, tiff: &Path) -> Result<AudioTerminal, SpandspError> {
        AudioTerminal::new(config, tiff, false)
    }

    fn new(
        config: &TerminalConfig,
        tiff: &Path,
        sending: bool,
    ) -> Result<AudioTerminal, SpandspError> {
        let file = c_path(tiff)?;
        let (shared, user_data) = Shared::boxed(sending);
        // SAFETY: a null state asks spandsp to allocate one.
        let raw = unsafe { ffi::fax_init(std::ptr::null_mut(), c_int::from(config.calling)) };
        let raw = NonNull::new(raw).ok_or(SpandspError::Init)?;
        let terminal = AudioTerminal {
            raw,
            shared,
            _file: file,
        };
        // SAFETY: raw is live; the file and shared state live as long as the terminal.
        unsafe {
            // silence rather than nothing between signals: RTP keeps flowing
            ffi::fax_set_transmit_on_idle(raw.as_ptr(), 1);
            let t30 = ffi::fax_get_t30_state(raw.as_ptr());
            configure_t30(t30, config, sending, &terminal._file, user_data);
        }
        Ok(terminal)
    }

    /// Hands over received audio.
    pub fn receive_audio(&mut self, samples: &[i16]) {
        let mut buffer = samples.to_vec(); // spandsp's prototype takes a mutable pointer
        // SAFETY: raw is live; the buffer is valid for the call.
        unsafe {
            ffi::fax_rx(
                self.raw.as_ptr(),
                buffer.as_mut_ptr(),
                buffer.len() as c_int,
            );
        }
    }

    /// Fills `out` with audio to send (silence when there is nothing to say).
    pub fn transmit_audio(&mut self, out: &mut [i16]) {
        // SAFETY: raw is live; out is valid for its length.
        let n = unsafe { ffi::fax_tx(self.raw.as_ptr(), out.as_mut_ptr(), out.len() as c_int) };
        let n = (n.max(0) as usize).min(out.len());
        out[n..].fill(0);
    }

    /// Whether the fax is over (phase E has passed).
    pub fn done(&self) -> bool {
        self.shared.progress.completion.is_some()
    }

    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }
}

impl Drop for AudioTerminal {
    fn drop(&mut self) {
        // SAFETY: raw was made by fax_init and is freed once; `shared` outlives it.
        unsafe {
            ffi::fax_free(self.raw.as_ptr());
        }
    }
}
