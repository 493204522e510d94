//! Detach keys of `attach` (`detachKeys`, default ctrl-p,ctrl-q): the client's input is copied to the
//! container until the sequence is typed, which ends the attach and leaves the container running.

use crate::error::EngineError;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

/// dockerd's default sequence: ctrl-p, ctrl-q.
pub const DEFAULT: [u8; 2] = [16, 17];

/// The sequence an attach watches for: dockerd looks for it only on a terminal (a non-TTY stream copies the
/// client's input untouched, ctrl-p included).
pub fn on_terminal(keys: Vec<u8>, tty: bool) -> Vec<u8> {
    if tty {
        keys
    } else {
        Vec::new()
    }
}

/// Parses Docker's detach key list: comma-separated `ctrl-<x>` (x in `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`)
/// or single characters. An empty string means the default.
pub fn parse(text: &str) -> Result<Vec<u8>, EngineError> {
    if text.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    let bad = |k: &str| EngineError::BadRequest(format!("Invalid escape keys ({k}) provided"));
    text.split(',')
        .map(|key| {
            let lower = key.to_ascii_lowercase();
            match lower.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                    b @ b'a'..=b'z' => Ok(b - b'a' + 1),
                    b'@' => Ok(0),
                    b @ (b'[' | b'\\' | b']' | b'^' | b'_') => Ok(b - b'[' + 27),
                    _ => Err(bad(text)),
                },
                Some(_) => Err(bad(text)),
                None if key.len() == 1 => Ok(key.as_bytes()[0]),
                None => Err(bad(text)),
            }
        })
        .collect()
}

/// Finds the sequence in a byte stream; bytes that start it are held back until it is decided.
#[derive(Debug)]
struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    /// Appends to `out` what passes; true once the whole sequence was seen (what follows it is dropped).
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(b == self.keys[0]);
            if self.matched == 0 {
                out.push(b);
            }
        }
        false
    }
}

/// A reader that ends (EOF) when the client types the detach sequence, and says so on `detached`.
pub struct EscapeReader<R> {
    inner: R,
    escape: Escape,
    pending: Vec<u8>,
    done: bool,
    detached: watch::Sender<bool>,
}

impl<R> EscapeReader<R> {
    /// Wraps `inner`; the receiver turns true on detach. No keys: nothing is watched for.
    pub fn new(inner: R, keys: Vec<u8>) -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let reader = EscapeReader {
            inner,
            escape: Escape { keys, matched: 0 },
            pending: Vec::new(),
            done: false,
            detached: tx,
        };
        (reader, rx)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for EscapeReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        loop {
            if !me.pending.is_empty() {
                let n = buf.remaining().min(me.pending.len());
                buf.put_slice(&me.pending[..n]);
                me.pending.drain(..n);
                return Poll::Ready(Ok(()));
            }
            if me.done {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut me.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                me.done = true;
                let held = me.escape.matched;
                me.pending.extend_from_slice(&me.escape.keys[..held]);
                continue;
            }
            if me.escape.feed(rb.filled(), &mut me.pending) {
                me.done = true;
                let _ = me.detached.send(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn parses_docker_key_lists() {
        assert_eq!(parse("").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-_").unwrap(), [0, 31]);
        assert!(parse("ctrl-1").is_err());
        assert!(parse("shift-a").is_err());
    }

    #[tokio::test]
    async fn input_ends_at_the_sequence() {
        let input: &[u8] = b"ab\x10c\x10\x10\x11rest";
        let (mut r, detached) = EscapeReader::new(input, DEFAULT.to_vec());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"ab\x10c\x10");
        assert!(*detached.borrow());
        let (mut r, detached) = EscapeReader::new(&b"plain\x10"[..], DEFAULT.to_vec());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"plain\x10");
        assert!(!*detached.borrow());
        let (mut r, detached) = EscapeReader::new(&b"a\x10\x11b"[..], on_terminal(DEFAULT.to_vec(), false));
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"a\x10\x11b");
        assert!(!*detached.borrow());
    }
}
