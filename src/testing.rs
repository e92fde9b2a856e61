//! What the in-process tests of the services share: a real store and spool in a temporary
//! directory, a clock the test moves by hand, and the wake-ups, as the daemon makes them.

use crate::wakeups::Wakeups;
use faxhub_queue::clock::Clock;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::Store;

pub struct Base {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub spool: Spool,
    pub clock: Clock,
    pub wakeups: Wakeups,
}

impl Base {
    /// A fresh store and spool.
    pub async fn new() -> Base {
        Base::open(tempfile::tempdir().expect("a temporary directory")).await
    }

    /// The store and spool in `dir` (what an earlier run, or a crash, left there).
    pub async fn open(dir: tempfile::TempDir) -> Base {
        let store = Store::open(&dir.path().join("faxhub.db"))
            .await
            .expect("the store opens");
        let spool = Spool::open(&dir.path().join("spool")).expect("the spool opens");
        Base {
            dir,
            store,
            spool,
            clock: Clock::manual(),
            wakeups: Wakeups::default(),
        }
    }
}
