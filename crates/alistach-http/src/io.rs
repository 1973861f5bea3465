//! The connection's socket with its two connection-level deadlines: a write-inactivity deadline
//! (a client that stops reading its answer, so writes make no progress, is disconnected after
//! the response write timeout instead of holding its connection slot forever), and the header
//! read timeout, which the server's [`Watchdog`](crate::idle::Watchdog) keeps: once it has cut
//! the connection off, reads fail.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::idle::Watch;

/// `inner` whose writes fail with [`io::ErrorKind::TimedOut`] after making no progress for
/// `timeout`, and whose reads fail the same way once its [`Watch`] says the request head did
/// not come in time. Request bodies have their own inactivity timeout.
pub(crate) struct Deadlines<S> {
    inner: S,
    watch: Option<Arc<Watch>>,
    timeout: Duration,
    /// Armed while a write is pending; created on the first stall, so a connection whose writes
    /// never stall never touches the timer.
    stall: Option<Pin<Box<Sleep>>>,
    armed: bool,
    on_timeout: Option<Box<dyn FnOnce() + Send>>,
}

impl<S> Deadlines<S> {
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        Deadlines {
            inner,
            watch: None,
            timeout,
            stall: None,
            armed: false,
            on_timeout: None,
        }
    }

    /// Reads fail once `watch` is cut off, and writes that make progress tell it so.
    pub(crate) fn watched(mut self, watch: Arc<Watch>) -> Self {
        self.watch = Some(watch);
        self
    }

    /// Runs `f` once, when a write times out (for metrics).
    pub(crate) fn on_timeout(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_timeout = Some(Box::new(f));
        self
    }

    /// Called when the inner write is pending: arms the deadline if it is not armed, and fails
    /// once it passes.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.armed {
            if let Some(watch) = &self.watch {
                watch.write_stalled();
            }
            let deadline = Instant::now() + self.timeout;
            match &mut self.stall {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        // Always set when armed; the fallback only satisfies the type.
        let timeout = self.timeout;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                if let Some(f) = self.on_timeout.take() {
                    f();
                }
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading the response",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        r: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.armed = false;
                if let Some(watch) = &self.watch {
                    watch.wrote();
                }
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match (&self.watch, r) {
            (Some(watch), Poll::Pending) => match watch.check(cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            (_, r) => r,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progressed(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progressed(r, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_times_out() {
        // A 64-byte pipe nobody reads from: the second write stalls.
        let (client, _server) = tokio::io::duplex(64);
        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = fired.clone();
        let mut io = Deadlines::new(client, Duration::from_secs(5))
            .on_timeout(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
        io.write_all(&[0; 64]).await.unwrap();
        let started = Instant::now();
        let err = io.write_all(&[0; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(fired.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_write_is_left_to_the_write_timeout_not_the_header_read_timeout() {
        let dog = crate::idle::Watchdog::new(Duration::from_secs(1));
        let sweeper = tokio::spawn(dog.clone().run(|| {}));
        let (client, _server) = tokio::io::duplex(64);
        let watch = dog.watch();
        let mut io = Deadlines::new(client, Duration::from_secs(5)).watched(watch.clone());
        // A request came in and its answer was handed over; the client reads none of it.
        watch.busy();
        watch.idle();
        io.write_all(&[0; 64]).await.unwrap();
        let started = Instant::now();
        let err = io.write_all(&[0; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // Five header read timeouts went by meanwhile; the sweeper left the connection alone.
        assert!(watch.check(std::task::Waker::noop()).is_ok());
        sweeper.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_is_not_cut_off() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut io = Deadlines::new(client, Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 64 * 10 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                total += tokio::io::AsyncReadExt::read(&mut server, &mut buf)
                    .await
                    .unwrap();
            }
            total
        });
        // Ten stalls of three seconds each: thirty seconds in all, never five without progress.
        io.write_all(&[1; 64 * 10]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 640);
    }
}
