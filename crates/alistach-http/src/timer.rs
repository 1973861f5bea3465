//! hyper's timer for one connection: the header read timeout without a timer-wheel entry per
//! request.
//!
//! hyper starts the header read timeout each time it waits for a request head and drops it
//! when the head is in: with `hyper_util`'s `TokioTimer` that is a new `tokio::time::Sleep`
//! per request, registered in the runtime's timer wheel and removed again (a lock each way),
//! a few percent of a cached answer. Here the connection keeps one `Sleep`: a new deadline
//! (always later than the last one) leaves it where it is, and only when it fires early, for
//! a deadline since moved on, is it moved to the current one. So a busy keep-alive connection
//! touches the wheel about once per timeout period, and a connection that sends nothing is
//! still cut off at its deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// The connection's one `tokio::time::Sleep`, made on first use.
type Slot = Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>;

/// A [`Timer`] for one connection (see the module docs); give each connection its own.
#[derive(Clone, Default)]
pub(crate) struct ConnectionTimer {
    slot: Slot,
}

impl Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(ConnectionSleep {
            deadline: deadline.into(),
            slot: Arc::clone(&self.slot),
        })
    }

    fn now(&self) -> Instant {
        // The runtime's clock, as `TokioTimer` reads it (paused in tests).
        tokio::time::Instant::now().into()
    }
}

/// Ready once `deadline` has passed, waiting on the connection's shared `Sleep`.
struct ConnectionSleep {
    deadline: tokio::time::Instant,
    slot: Slot,
}

impl Sleep for ConnectionSleep {}

impl Future for ConnectionSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        let sleep = slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Set for a later deadline (only a reset timer could do that): this one comes first.
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if sleep.deadline() >= deadline => return Poll::Ready(()),
                // It fired for an earlier request's deadline: wait on to this one.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_sleep_ends_at_its_own_deadline_on_one_shared_timer() {
        let timer = ConnectionTimer::default();
        let start = timer.now();
        // A first wait that is given up (the head came in), then a later one.
        let first = timer.sleep(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(first);
        let second = timer.sleep(Duration::from_secs(10));
        second.await;
        assert_eq!(timer.now() - start, Duration::from_secs(13));
        // The shared timer, left at the second deadline, serves a third.
        let third = timer.sleep_until(timer.now() + Duration::from_secs(5));
        third.await;
        assert_eq!(timer.now() - start, Duration::from_secs(18));
        // An earlier deadline than the one the shared timer holds still comes first.
        let mut late = timer.sleep(Duration::from_secs(60));
        std::future::poll_fn(|cx| {
            assert!(late.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let early = timer.sleep(Duration::from_secs(1));
        early.await;
        assert_eq!(timer.now() - start, Duration::from_secs(19));
        late.await;
        assert_eq!(timer.now() - start, Duration::from_secs(78));
    }
}
