//! The response body: a few byte chunks sent in order. A cached answer is spliced into its
//! envelope as chunks that share the cached bytes, so it goes out without being copied into a
//! fresh buffer; hyper writes the chunks with one vectored write.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// Up to three chunks, sent first to last.
#[derive(Debug, Default)]
pub struct Body {
    chunks: [Option<Bytes>; 3],
    next: usize,
}

impl Body {
    /// A body made of `chunks`, in order (empty chunks are skipped).
    pub fn chunks(first: Bytes, second: Bytes, third: Bytes) -> Self {
        let keep = |b: Bytes| (!b.is_empty()).then_some(b);
        Body {
            chunks: [keep(first), keep(second), keep(third)],
            next: 0,
        }
    }

    /// The bytes that are still to be sent, copied into one buffer (for tests and logs).
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks[self.next..]
            .iter()
            .flatten()
            .flat_map(|c| c.iter().copied())
            .collect()
    }

    fn remaining(&self) -> u64 {
        self.chunks[self.next..]
            .iter()
            .flatten()
            .map(|c| c.len() as u64)
            .sum()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::chunks(b, Bytes::new(), Bytes::new())
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Bytes::from_static(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        while self.next < self.chunks.len() {
            let i = self.next;
            self.next += 1;
            if let Some(chunk) = self.chunks[i].take() {
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks[self.next..].iter().all(Option::is_none)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn chunks_arrive_in_order_with_an_exact_length() {
        let body = Body::chunks(
            Bytes::from_static(b"{\"a\":"),
            Bytes::new(),
            Bytes::from_static(b"1}"),
        );
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(7));
        assert_eq!(body.to_vec(), b"{\"a\":1}");
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"{\"a\":1}");
        assert!(hyper::body::Body::is_end_stream(&Body::default()));
    }
}
