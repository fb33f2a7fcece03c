//! The connection layer under axum. hyper answers some requests itself, before any of Cowry's code
//! runs: a request line or header it cannot parse (a control byte in a header value) gets `400`, a
//! request target over 65,534 bytes `414`, headers past its buffer `431` — each with an empty body
//! and the connection closed. Those answers are rewritten here, on their way out, into the one error
//! shape (with the headers every API answer carries), so a client never has to handle a second
//! format. Everything else passes through untouched.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts TCP connections whose hyper-made answers leave in the error shape.
pub struct ShapedListener(pub TcpListener);

impl axum::serve::Listener for ShapedListener {
    type Io = ShapedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ShapedIo, SocketAddr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (
            ShapedIo {
                inner: stream,
                pending: None,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

pub struct ShapedIo {
    inner: TcpStream,
    /// A rewritten answer being written: its bytes, how many are out, and how many of the caller's
    /// bytes it stands for (reported written once all of it is).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl ShapedIo {
    /// Small answers go out sooner (no Nagle delay waiting for an ACK).
    pub fn set_nodelay(&self) {
        let _ = self.inner.set_nodelay(true);
    }
}

impl AsyncRead for ShapedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ShapedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            if let Some(shaped) = reshape(buf) {
                this.pending = Some((shaped, 0, buf.len()));
            }
        }
        if let Some((bytes, written, stands_for)) = &mut this.pending {
            while *written < bytes.len() {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
            let stands_for = *stands_for;
            this.pending = None;
            return Poll::Ready(Ok(stands_for));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then hands over each answer's head in one buffer, which is what `reshape`
    // recognises (Cowry's bodies are small JSON, so the copy costs little).
}

/// hyper's automatic answer — a head with `connection: close` and `content-length: 0` and none of the
/// headers Cowry puts on every answer — rewritten with a body in the error shape.
fn reshape(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?;
    let rest = head.strip_prefix("HTTP/1.1 ")?;
    if !head.ends_with("\r\n\r\n")
        || !head.contains("\r\ncontent-length: 0\r\n")
        || !head.contains("\r\nconnection: close\r\n")
        || head.contains("x-content-type-options")
    {
        return None;
    }
    let status: u16 = rest.get(..3)?.parse().ok()?;
    let (code, message) = match status {
        400 => (
            "bad_request",
            "the request is not valid HTTP/1.1 (a malformed request line, or a header with a control character)",
        ),
        414 => (
            "uri_too_long",
            "the request target is longer than 65,534 bytes",
        ),
        431 => ("headers_too_large", "the request headers are too large"),
        _ => return None,
    };
    let body = serde_json::to_string(&crate::error::ErrorBody {
        success: false,
        status: "error",
        status_code: status,
        message: message.to_owned(),
        error: crate::error::ErrorDetail {
            code,
            fields: Vec::new(),
        },
    })
    .ok()?;
    let date = head
        .split("\r\n")
        .find(|line| line.starts_with("date: "))
        .map(|line| format!("{line}\r\n"))
        .unwrap_or_default();
    let status_line = head.split("\r\n").next()?;
    Some(
        format!(
            "{status_line}\r\nconnection: close\r\ncontent-type: application/json\r\n\
             x-content-type-options: nosniff\r\ncache-control: no-store\r\n\
             content-length: {}\r\n{date}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_answers_get_the_error_shape_and_others_pass() {
        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 27 Nov 2026 16:02:26 GMT\r\n\r\n";
        let shaped = String::from_utf8(reshape(hyper_414).unwrap()).unwrap();
        let (head, body) = shaped.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains("date: Fri, 27 Nov 2026"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["statusCode"], 414);
        assert_eq!(body["error"]["code"], "uri_too_long");

        let ours = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(reshape(ours), None, "Cowry's own answers are left alone");
        assert_eq!(
            reshape(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            None
        );
        assert_eq!(
            reshape(b"HTTP/1.1 400 Bad"),
            None,
            "a partial head is not guessed at"
        );
    }
}
