//! The server's view of its open connections: the header read timeout, kept by one sweeper
//! per server instead of a timer per request, and the graceful-shutdown signal.
//!
//! A connection waits for a request head from when it is accepted, and again from when its
//! last answer was handed to the socket (each write that makes progress restarts the wait, and
//! a connection whose write is stuck is not cut off here: a client that stops reading its
//! answer is the response write timeout's). The head must arrive within the header read
//! timeout, and a keep-alive connection left idle that long is closed.
//!
//! hyper can keep this timeout itself, but it starts a timer for every request head and polls
//! it on every read; at a thousand open connections, reaching each connection's timer state
//! cost about a microsecond of CPU per request (wrk at 1,024 connections, with and without the
//! timeout). Here a connection only stores when it began to wait, read off a coarse clock (no
//! system call), and the sweeper checks every connection at least four times per timeout
//! period (every quarter, at most a second apart), the way nginx keeps its timers coarse: a
//! connection is cut off between one and one and a quarter timeouts after it began to wait.
//! The sweeper marks it and wakes it; its next read fails and hyper closes it.
//!
//! At shutdown every connection is woken and told to finish what it is answering and close.
//! (hyper-util's graceful shutdown does the same through a watch channel, whose waiting
//! receivers take one lock shared by every connection each time a connection is polled.)

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Waker;
use std::time::Duration;

use atomic_waker::AtomicWaker;

/// `waiting_since` while a request is being answered.
const BUSY: u64 = u64::MAX;
/// `waiting_since` once the sweeper has cut the connection off.
const EXPIRED: u64 = u64::MAX - 1;

/// The sweeper's shortest and longest period.
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_secs(1);

/// One server's connections and the coarse clock they read.
pub(crate) struct Watchdog {
    timeout_ms: u64,
    tick: Duration,
    /// Milliseconds since the watchdog was made, advanced by the sweeper each tick.
    now_ms: AtomicU64,
    /// Every connection made since the last sweep, and every one still open before it.
    conns: Mutex<Vec<Weak<Watch>>>,
    /// Set once the server shuts down.
    closing: AtomicBool,
}

impl Watchdog {
    pub(crate) fn new(header_read_timeout: Duration) -> Arc<Self> {
        Arc::new(Watchdog {
            timeout_ms: header_read_timeout.as_millis().max(1) as u64,
            tick: (header_read_timeout / 4).clamp(MIN_TICK, MAX_TICK),
            now_ms: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
        })
    }

    /// Watches a new connection, which waits for its first request head from now.
    pub(crate) fn watch(self: &Arc<Self>) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            owner: self.clone(),
            waiting_since: AtomicU64::new(self.now_ms.load(Relaxed)),
            waker: AtomicWaker::new(),
            writing: AtomicBool::new(false),
            told: AtomicBool::new(false),
        });
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&watch));
        watch
    }

    /// Tells every connection, open or opened from now, to finish the answer it is giving and
    /// close: each is woken to see it (see [`Watch::take_shutdown`]).
    pub(crate) fn close_all(&self) {
        self.closing.store(true, SeqCst);
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        for watch in conns.iter().filter_map(Weak::upgrade) {
            watch.waker.wake();
        }
    }

    /// Sweeps until dropped (the accept loop aborts it), calling `expired` for each connection
    /// cut off.
    pub(crate) async fn run(self: Arc<Self>, expired: impl Fn()) {
        let start = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(self.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = start.elapsed().as_millis() as u64;
            self.now_ms.store(now, Relaxed);
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.retain(|weak| {
                let Some(watch) = weak.upgrade() else {
                    return false;
                };
                if watch.expire_at(now, self.timeout_ms) {
                    expired();
                }
                true
            });
        }
    }
}

/// One connection, as the [`Watchdog`] sees it.
pub(crate) struct Watch {
    owner: Arc<Watchdog>,
    /// The coarse time since which the connection waits for a request head, or [`BUSY`], or
    /// [`EXPIRED`].
    waiting_since: AtomicU64,
    /// The connection's task, woken when it is cut off.
    waker: AtomicWaker,
    /// A write is waiting for the client to read: not cut off while so.
    writing: AtomicBool,
    /// The connection has seen the shutdown signal ([`Watch::take_shutdown`]).
    told: AtomicBool,
}

impl Watch {
    /// A request head arrived: no head is awaited until its answer is handed over.
    pub(crate) fn busy(&self) {
        self.waiting_since.store(BUSY, Relaxed);
    }

    /// The answer was handed to hyper: the next head is awaited from now.
    pub(crate) fn idle(&self) {
        self.waiting_since
            .store(self.owner.now_ms.load(Relaxed), Relaxed);
    }

    /// A write is stuck until the client reads: the response write timeout governs it.
    pub(crate) fn write_stalled(&self) {
        self.writing.store(true, Relaxed);
    }

    /// A write made progress: an answer still being sent restarts the wait.
    pub(crate) fn wrote(&self) {
        if self.writing.load(Relaxed) {
            self.writing.store(false, Relaxed);
        }
        let since = self.waiting_since.load(Relaxed);
        if since < EXPIRED {
            let now = self.owner.now_ms.load(Relaxed);
            if now != since {
                self.waiting_since.store(now, Relaxed);
            }
        }
    }

    /// True once, the first time it is asked after the server began to shut down: the
    /// connection should then finish its answer and close.
    pub(crate) fn take_shutdown(&self) -> bool {
        self.owner.closing.load(Relaxed) && !self.told.swap(true, Relaxed)
    }

    /// Fails once the connection was cut off; otherwise arranges for `waker` to be woken when
    /// it is, or when the server shuts down.
    pub(crate) fn check(&self, waker: &Waker) -> io::Result<()> {
        self.expired()?;
        self.waker.register(waker);
        // Shut down between the connection's last look and the registration, so that wake may
        // have been missed: wake itself to look again (only until it has seen the signal, or a
        // connection still answering would be polled in a loop).
        if self.owner.closing.load(SeqCst) && !self.told.load(Relaxed) {
            waker.wake_by_ref();
        }
        // Cut off between the first look and the registration.
        self.expired()
    }

    fn expired(&self) -> io::Result<()> {
        if self.waiting_since.load(Relaxed) == EXPIRED {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request head within the header read timeout",
            ))
        } else {
            Ok(())
        }
    }

    /// Marks the connection cut off and wakes it if it has waited `timeout_ms` by `now`.
    fn expire_at(&self, now: u64, timeout_ms: u64) -> bool {
        let since = self.waiting_since.load(Relaxed);
        if since >= EXPIRED || now.saturating_sub(since) < timeout_ms || self.writing.load(Relaxed)
        {
            return false;
        }
        // A head that arrives meanwhile (BUSY) wins.
        if self
            .waiting_since
            .compare_exchange(since, EXPIRED, Relaxed, Relaxed)
            .is_err()
        {
            return false;
        }
        self.waker.wake();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_connection_is_cut_off_after_the_timeout_and_a_busy_one_is_not() {
        let dog = Watchdog::new(Duration::from_secs(4));
        let cut = Arc::new(AtomicUsize::new(0));
        let counted = cut.clone();
        let sweeper = tokio::spawn(dog.clone().run(move || {
            counted.fetch_add(1, Relaxed);
        }));
        let waiting = dog.watch();
        let busy = dog.watch();
        busy.busy();
        let waker = Waker::noop();
        assert!(waiting.check(waker).is_ok());
        tokio::time::sleep(Duration::from_millis(3_900)).await;
        assert!(waiting.check(waker).is_ok(), "not before the timeout");
        // One tick (a quarter of the timeout) at most past it.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let err = waiting.check(waker).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            busy.check(waker).is_ok(),
            "a request being answered is never cut off"
        );
        assert_eq!(cut.load(Relaxed), 1);
        // Answered now: it waits for its next head from here, and writes restart the wait.
        busy.idle();
        tokio::time::sleep(Duration::from_secs(3)).await;
        busy.wrote();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(busy.check(waker).is_ok());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(busy.check(waker).is_err());
        // Closed connections leave the list at the next sweep.
        drop((waiting, busy));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(dog.conns.lock().unwrap().is_empty());
        sweeper.abort();
    }

    #[tokio::test]
    async fn closing_wakes_every_waiting_connection() {
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let dog = Watchdog::new(Duration::from_secs(10));
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let conns: Vec<_> = (0..3).map(|_| dog.watch()).collect();
        for c in &conns {
            c.check(&waker).unwrap();
            assert!(!c.take_shutdown());
        }
        dog.close_all();
        assert_eq!(woken.0.load(Relaxed), 3);
        // Each is told once.
        assert!(conns.iter().all(|c| c.take_shutdown()));
        assert!(conns.iter().all(|c| !c.take_shutdown()));
        // One that registers after the signal, before it looked, wakes itself to look.
        let late = dog.watch();
        late.check(&waker).unwrap();
        assert_eq!(woken.0.load(Relaxed), 4);
        assert!(late.take_shutdown());
        // Told, a connection still answering is not woken again at each read it waits on.
        for c in conns.iter().chain([&late]) {
            c.check(&waker).unwrap();
        }
        assert_eq!(woken.0.load(Relaxed), 4);
    }
}
