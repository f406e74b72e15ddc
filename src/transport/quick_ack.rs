//! A TCP stream that acknowledges what it receives at once.
//!
//! sshd sets `TCP_NODELAY` only for sessions with a terminal; ours have none, so Nagle's
//! algorithm holds a small packet back on the host until the previous one is acknowledged.
//! Linux delays acknowledgements by up to 40 ms on a connection that looks interactive
//! (each side answering the other), which is exactly the pattern of SSH's handshake and of
//! the helper protocol. Without this, opening a session waited about 40 ms on every host
//! for a packet sshd had already written. `TCP_QUICKACK` is not sticky (the kernel returns
//! to delayed acknowledgements after we send), so it is set again after every read, which
//! also sends the acknowledgement for what was just read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct QuickAckStream(TcpStream);

impl QuickAckStream {
    pub fn new(stream: TcpStream) -> QuickAckStream {
        QuickAckStream(stream)
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a socket that refuses the option still works, only slower.
            let _ = rustix::net::sockopt::set_tcp_quickack(&self.0, true);
        }
        result
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
