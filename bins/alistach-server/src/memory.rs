//! Giving freed memory back to the operating system.
//!
//! mimalloc keeps the pages a thread frees for a short delay and returns them on that thread's
//! later allocator calls. A server that has just started, or that goes quiet, makes no such
//! calls, so the scratch memory of start-up (configuration, migrations, the background jobs'
//! first runs) would stay resident for as long as the server idles. `mi_collect` does the
//! pending work at once.

use std::time::Duration;

/// Returns the calling thread's free pages, and every arena's pages waiting for a purge, to
/// the operating system.
#[allow(unsafe_code)]
pub fn give_back() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time;
    // it only frees memory no allocation refers to.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Gives memory back shortly after start-up, once the background jobs' first runs are over,
/// and then once a minute (on whichever worker thread runs the task; a collection takes
/// microseconds when there is little to do).
pub async fn give_back_periodically() {
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(2),
        Duration::from_secs(60),
    );
    loop {
        every.tick().await;
        give_back();
    }
}
