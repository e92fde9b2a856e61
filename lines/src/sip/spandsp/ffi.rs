//! The few libspandsp (Debian's libspandsp2, 0.0.6, LGPL-2.1, linked dynamically) functions
//! faxhub calls, declared by hand from its headers: the T.38 terminal, its T.38 core, the
//! audio (G.711) fax modem, and their T.30 engine. Everything here is unsafe; `super` is the safe layer.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// Opaque spandsp states.
#[repr(C)]
pub struct t38_terminal_state_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct t38_core_state_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct t30_state_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct fax_state_t {
    _private: [u8; 0],
}

/// `t30_stats_t` (spandsp/t30.h, 0.0.6): fifteen ints.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct t30_stats_t {
    pub bit_rate: c_int,
    pub error_correcting_mode: c_int,
    pub pages_tx: c_int,
    pub pages_rx: c_int,
    pub pages_in_file: c_int,
    pub x_resolution: c_int,
    pub y_resolution: c_int,
    pub width: c_int,
    pub length: c_int,
    pub image_size: c_int,
    pub encoding: c_int,
    pub bad_rows: c_int,
    pub longest_bad_row_run: c_int,
    pub error_correcting_mode_retries: c_int,
    pub current_status: c_int,
}

pub type t38_tx_packet_handler_t = unsafe extern "C" fn(
    s: *mut t38_core_state_t,
    user_data: *mut c_void,
    buf: *const u8,
    len: c_int,
    count: c_int,
) -> c_int;
pub type t30_phase_b_handler_t =
    unsafe extern "C" fn(s: *mut t30_state_t, user_data: *mut c_void, result: c_int) -> c_int;
pub type t30_phase_d_handler_t =
    unsafe extern "C" fn(s: *mut t30_state_t, user_data: *mut c_void, result: c_int) -> c_int;
pub type t30_phase_e_handler_t =
    unsafe extern "C" fn(s: *mut t30_state_t, user_data: *mut c_void, completion_code: c_int);

// t30.h enums
pub const T30_SUPPORT_V27TER: c_int = 0x01;
/// T30_SUPPORT_T4_1D_COMPRESSION (MH), _T4_2D_ (MR), _T6_ (MMR): spandsp 0.0.6 values.
pub const T30_SUPPORT_T4_1D_COMPRESSION: c_int = 2;
pub const T30_SUPPORT_T4_2D_COMPRESSION: c_int = 4;
pub const T30_SUPPORT_T6_COMPRESSION: c_int = 8;
pub const T30_SUPPORT_V29: c_int = 0x02;
pub const T30_SUPPORT_V17: c_int = 0x04;
// t38_core.h enums
pub const T38_PACKET_CATEGORY_INDICATOR: c_int = 0;
pub const T38_PACKET_CATEGORY_CONTROL_DATA: c_int = 1;
pub const T38_PACKET_CATEGORY_CONTROL_DATA_END: c_int = 2;
pub const T38_PACKET_CATEGORY_IMAGE_DATA: c_int = 3;
pub const T38_PACKET_CATEGORY_IMAGE_DATA_END: c_int = 4;
pub const T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF: c_int = 2;

#[link(name = "spandsp")]
unsafe extern "C" {
    pub fn t38_terminal_init(
        s: *mut t38_terminal_state_t,
        calling_party: c_int,
        tx_packet_handler: t38_tx_packet_handler_t,
        tx_packet_user_data: *mut c_void,
    ) -> *mut t38_terminal_state_t;
    pub fn t38_terminal_free(s: *mut t38_terminal_state_t) -> c_int;
    pub fn t38_terminal_send_timeout(s: *mut t38_terminal_state_t, samples: c_int) -> c_int;
    pub fn t38_terminal_set_config(s: *mut t38_terminal_state_t, config: c_int);
    pub fn t38_terminal_get_t30_state(s: *mut t38_terminal_state_t) -> *mut t30_state_t;
    pub fn t38_terminal_get_t38_core_state(s: *mut t38_terminal_state_t) -> *mut t38_core_state_t;

    pub fn fax_init(s: *mut fax_state_t, calling_party: c_int) -> *mut fax_state_t;
    pub fn fax_free(s: *mut fax_state_t) -> c_int;
    pub fn fax_rx(s: *mut fax_state_t, amp: *mut i16, len: c_int) -> c_int;
    pub fn fax_tx(s: *mut fax_state_t, amp: *mut i16, max_len: c_int) -> c_int;
    pub fn fax_set_transmit_on_idle(s: *mut fax_state_t, transmit_on_idle: c_int);
    pub fn fax_get_t30_state(s: *mut fax_state_t) -> *mut t30_state_t;

    pub fn t38_core_rx_ifp_packet(
        s: *mut t38_core_state_t,
        buf: *const u8,
        len: c_int,
        seq_no: u16,
    ) -> c_int;
    pub fn t38_set_redundancy_control(s: *mut t38_core_state_t, category: c_int, setting: c_int);
    pub fn t38_set_t38_version(s: *mut t38_core_state_t, t38_version: c_int);
    pub fn t38_set_data_rate_management_method(s: *mut t38_core_state_t, method: c_int);
    pub fn t38_set_fastest_image_data_rate(s: *mut t38_core_state_t, max_rate: c_int);

    pub fn t30_set_tx_file(
        s: *mut t30_state_t,
        file: *const c_char,
        start_page: c_int,
        stop_page: c_int,
    );
    pub fn t30_set_rx_file(s: *mut t30_state_t, file: *const c_char, stop_page: c_int);
    pub fn t30_set_tx_ident(s: *mut t30_state_t, id: *const c_char) -> c_int;
    pub fn t30_get_rx_ident(s: *mut t30_state_t) -> *const c_char;
    pub fn t30_set_tx_page_header_info(s: *mut t30_state_t, info: *const c_char) -> c_int;
    pub fn t30_set_ecm_capability(s: *mut t30_state_t, enabled: c_int) -> c_int;
    pub fn t30_set_supported_modems(s: *mut t30_state_t, supported_modems: c_int) -> c_int;
    pub fn t30_set_supported_compressions(s: *mut t30_state_t, supported: c_int) -> c_int;
    pub fn t30_set_phase_b_handler(
        s: *mut t30_state_t,
        handler: t30_phase_b_handler_t,
        user_data: *mut c_void,
    );
    pub fn t30_set_phase_d_handler(
        s: *mut t30_state_t,
        handler: t30_phase_d_handler_t,
        user_data: *mut c_void,
    );
    pub fn t30_set_phase_e_handler(
        s: *mut t30_state_t,
        handler: t30_phase_e_handler_t,
        user_data: *mut c_void,
    );
    pub fn t30_get_transfer_statistics(s: *mut t30_state_t, t: *mut t30_stats_t);
    pub fn t30_completion_code_to_str(result: c_int) -> *const c_char;
}
