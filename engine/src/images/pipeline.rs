//! Layer decompression on its own thread: one core inflates and hashes the uncompressed stream (the
//! diff id) while the caller's thread parses the tar and writes files.

use std::io::{BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver};

use sha2::{Digest as _, Sha256};

/// Uncompressed bytes per message between the threads.
const CHUNK: usize = 256 * 1024;
/// Messages in flight (bounded memory: QUEUE × CHUNK).
const QUEUE: usize = 16;

type Chunk = std::io::Result<Vec<u8>>;

/// Runs `consume` on the decompressed content of `src` (gzip, zstd or plain, detected from its first
/// bytes by `open`) while another thread decompresses and hashes it. Returns what `consume` returned
/// and the `sha256:` digest of the whole uncompressed stream; `consume` must read to the end.
pub fn decompressed<'a, S, T, E>(
    src: S,
    open: impl FnOnce(S) -> std::io::Result<Box<dyn Read + Send + 'a>> + Send,
    consume: impl FnOnce(&mut ChunkReader) -> Result<T, E>,
    io_error: impl Fn(std::io::Error) -> E,
) -> Result<(T, String), E>
where
    S: BufRead + Send + 'a,
{
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Chunk>(QUEUE);
        let producer = scope.spawn(move || {
            let mut hasher = Sha256::new();
            let mut r = match open(src) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return None;
                }
            };
            loop {
                let mut buf = vec![0u8; CHUNK];
                match fill(&mut r, &mut buf) {
                    Ok(0) => return Some(format!("sha256:{}", hex::encode(hasher.finalize()))),
                    Ok(n) => {
                        buf.truncate(n);
                        hasher.update(&buf);
                        // A closed receiver means the consumer failed; its error is the one reported.
                        if tx.send(Ok(buf)).is_err() {
                            return None;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return None;
                    }
                }
            }
        });
        let mut reader = ChunkReader {
            rx,
            cur: Vec::new(),
            at: 0,
        };
        let out = consume(&mut reader);
        drop(reader);
        let digest = producer.join().ok().flatten();
        let out = out?;
        let digest = digest.ok_or_else(|| io_error(std::io::Error::other("the layer's decompression ended early")))?;
        Ok((out, digest))
    })
}

/// Reads until `buf` is full or the stream ends (fewer, larger messages).
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The consumer's side: reads the chunks the decompressing thread sends; its errors fail the read.
pub struct ChunkReader {
    rx: Receiver<Chunk>,
    cur: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn plain(r: BufReader<&'static [u8]>) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(r))
    }

    #[test]
    fn passes_everything_and_hashes_it() {
        static DATA: [u8; 1_000_003] = [7u8; 1_000_003];
        let ((), digest) = decompressed(
            BufReader::new(&DATA[..]),
            plain,
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| assert_eq!(v, DATA))
            },
            |e| e,
        )
        .unwrap();
        assert_eq!(digest, format!("sha256:{}", hex::encode(Sha256::digest(DATA))));
    }

    #[test]
    fn source_errors_reach_the_consumer() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("digest mismatch"))
            }
        }
        let r = decompressed(
            BufReader::new(Failing),
            |r| Ok(Box::new(r) as Box<dyn Read + Send>),
            |r| r.read_to_end(&mut Vec::new()),
            |e| e,
        );
        assert!(r.unwrap_err().to_string().contains("digest mismatch"));
    }

    #[test]
    fn a_consumer_that_stops_early_does_not_hang() {
        static DATA: [u8; 4_000_000] = [1u8; 4_000_000];
        let r = decompressed(
            BufReader::new(&DATA[..]),
            plain,
            |r| {
                let mut b = [0u8; 10];
                r.read_exact(&mut b)?;
                Err::<(), _>(std::io::Error::other("bad tar"))
            },
            |e| e,
        );
        assert_eq!(r.unwrap_err().to_string(), "bad tar");
    }
}
