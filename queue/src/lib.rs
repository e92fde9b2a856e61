//! faxhub's domain core.
//!
//! Everything the rest of faxhub agrees on lives here and nowhere else: fax numbers and the dial
//! plan, the fax addressing forms, RFC 3463 status codes, the job and recipient state machine,
//! the retry policy, the spool of immutable content files and the job store (the one source of
//! truth for state). This crate knows nothing of SMTP, Ghostscript or SIP, and its pure modules
//! (`address`, `dialplan`, `retry`, `state`, `status`) take `now` as a parameter and do no I/O.

pub mod address;
pub mod clock;
pub mod dialplan;
pub mod did;
pub mod dsn;
pub mod durable;
pub mod files;
pub mod identity;
pub mod intake;
pub mod job;
pub mod junk;
pub mod limits;
pub mod logging;
pub mod memory;
#[cfg(any(test, feature = "test-support"))]
pub mod pg_test;
pub mod progress;
pub mod report;
pub mod resume;
pub mod retry;
pub mod schedule;
pub mod senders;
pub mod spool;
pub mod state;
pub mod status;
pub mod store;
pub mod tiff;
pub mod units;
pub mod window;

pub use address::{FaxAddress, parse_fax_local_part};
pub use dialplan::{DialPlan, DialPlanError, FaxNumber};
pub use job::{JobId, Notify, Origin, Ret, Route};
pub use state::{ConversionState, JobPhase, RecipientStatus};
pub use status::EnhancedStatus;
