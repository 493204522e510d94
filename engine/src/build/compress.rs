//! Compression formats of build contexts and ADD archives, told apart by their magic bytes as Docker does:
//! gzip, bzip2, xz, zstd, or none.

use std::io::{BufRead, Read};

/// A stream's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (several members are read one after the other, as `gzip -d` does).
    Gzip,
    /// bzip2 (several streams likewise).
    Bzip2,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression whose magic bytes start `head`.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// `r` decompressed according to its first bytes.
pub fn decompressed<'a, R: BufRead + Send + 'a>(mut r: R) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match Compression::detect(r.fill_buf()?) {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        // Concatenated xz streams are read like xz(1) does.
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(c: Compression, packed: Vec<u8>) {
        assert_eq!(Compression::detect(&packed), c);
        let mut out = String::new();
        decompressed(&packed[..]).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello berth");
    }

    #[test]
    fn every_format_decompresses() {
        let data = b"hello berth";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        roundtrip(Compression::Gzip, gz.finish().unwrap());
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(data).unwrap();
        roundtrip(Compression::Bzip2, bz.finish().unwrap());
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(data).unwrap();
        roundtrip(Compression::Xz, xz.finish().unwrap());
        roundtrip(Compression::Zstd, zstd::encode_all(&data[..], 3).unwrap());
        roundtrip(Compression::None, data.to_vec());
    }
}
