//! A minimal PNG writer (8-bit RGB, no interlace) with its own zlib stream: one deflate block
//! with the fixed Huffman codes and greedy LZ77 over a 32 KiB window. Plots are mostly flat
//! colour, so this gets most of the way to a full encoder without a compression dependency.

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as PNG chunks use it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, bytes) ^ 0xFFFF_FFFF
}

fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    crc
}

/// Adler-32 checksum of the uncompressed data, as the zlib trailer holds it.
pub fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before `b` could overflow u32.
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Deflate bit sink: bits go in least-significant first, as RFC 1951 packs them.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    fn put(&mut self, bits: u32, n: u32) {
        self.acc |= (bits as u64) << self.nbits;
        self.nbits += n;
        while self.nbits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits -= 8;
        }
    }

    /// Huffman codes are defined most-significant bit first.
    fn put_code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.nbits > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

fn put_litlen_symbol(w: &mut BitWriter, sym: u32) {
    match sym {
        0..=143 => w.put_code(0x30 + sym, 8),
        144..=255 => w.put_code(0x190 + sym - 144, 9),
        256..=279 => w.put_code(sym - 256, 7),
        _ => w.put_code(0xC0 + sym - 280, 8),
    }
}

/// Index of the last table entry `<= value`.
fn bucket(table: &[u16], value: usize) -> usize {
    table
        .iter()
        .rposition(|&b| b as usize <= value)
        .unwrap_or(0)
}

fn put_match(w: &mut BitWriter, len: usize, dist: usize) {
    let li = bucket(&LEN_BASE, len);
    put_litlen_symbol(w, 257 + li as u32);
    w.put((len - LEN_BASE[li] as usize) as u32, LEN_EXTRA[li] as u32);
    let di = bucket(&DIST_BASE, dist);
    w.put_code(di as u32, 5);
    w.put(
        (dist - DIST_BASE[di] as usize) as u32,
        DIST_EXTRA[di] as u32,
    );
}

const WINDOW: usize = 32 * 1024;
const HASH_BITS: u32 = 15;
const MAX_CHAIN: usize = 48;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const NONE: usize = usize::MAX;

fn hash3(d: &[u8]) -> usize {
    let v = (d[0] as u32) | (d[1] as u32) << 8 | (d[2] as u32) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// Raw deflate (RFC 1951): a single final block with the fixed Huffman codes.
pub fn deflate_fixed(data: &[u8]) -> Vec<u8> {
    let mut w = BitWriter {
        out: Vec::with_capacity(data.len() / 4 + 16),
        acc: 0,
        nbits: 0,
    };
    w.put(1, 1); // BFINAL
    w.put(1, 2); // BTYPE = 01, fixed codes
    let mut head = vec![NONE; 1 << HASH_BITS];
    let mut prev = vec![NONE; WINDOW];
    let insert = |pos: usize, head: &mut [usize], prev: &mut [usize]| {
        if pos + MIN_MATCH <= data.len() {
            let h = hash3(&data[pos..]);
            prev[pos % WINDOW] = head[h];
            head[h] = pos;
        }
    };
    let mut pos = 0;
    while pos < data.len() {
        let (mut best_len, mut best_dist) = (0, 0);
        if pos + MIN_MATCH <= data.len() {
            let max_len = MAX_MATCH.min(data.len() - pos);
            let mut cand = head[hash3(&data[pos..])];
            let mut chain = 0;
            while cand != NONE && pos - cand <= WINDOW && chain < MAX_CHAIN {
                let len = data[cand..]
                    .iter()
                    .zip(&data[pos..pos + max_len])
                    .take_while(|(a, b)| a == b)
                    .count();
                if len > best_len {
                    (best_len, best_dist) = (len, pos - cand);
                    if len == max_len {
                        break;
                    }
                }
                let next = prev[cand % WINDOW];
                // A slot overwritten by a newer position ends the chain.
                if next == NONE || next >= cand {
                    break;
                }
                cand = next;
                chain += 1;
            }
        }
        if best_len >= MIN_MATCH {
            put_match(&mut w, best_len, best_dist);
            for p in pos..pos + best_len {
                insert(p, &mut head, &mut prev);
            }
            pos += best_len;
        } else {
            put_litlen_symbol(&mut w, data[pos] as u32);
            insert(pos, &mut head, &mut prev);
            pos += 1;
        }
    }
    put_litlen_symbol(&mut w, 256);
    w.finish()
}

/// A zlib stream (RFC 1950): header, fixed-code deflate, Adler-32 trailer.
pub fn zlib_compress(data: &[u8]) -> Vec<u8> {
    // CMF 0x78 = deflate with a 32 KiB window; FLG 0x01 makes (CMF·256 + FLG) divisible by 31.
    let mut out = vec![0x78, 0x01];
    out.extend(deflate_fixed(data));
    out.extend(adler32(data).to_be_bytes());
    out
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    let crc = crc32_update(crc32_update(0xFFFF_FFFF, kind), data) ^ 0xFFFF_FFFF;
    out.extend(crc.to_be_bytes());
}

pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Encode `rgb` (row-major, 3 bytes per pixel, `width·height·3` bytes) as a PNG file.
///
/// Panics if `rgb` has the wrong length: the callers in this crate build the buffer themselves.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let stride = width as usize * 3;
    assert_eq!(
        rgb.len(),
        stride * height as usize,
        "RGB buffer does not match {width}x{height}"
    );
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit depth, truecolour, deflate, adaptive filters, no interlace
    let mut raw = Vec::with_capacity((stride + 1) * height as usize);
    for row in rgb.chunks(stride.max(1)).take(height as usize) {
        raw.push(0); // filter type None
        raw.extend(row);
    }
    let mut out = PNG_SIGNATURE.to_vec();
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(&mut out, b"IDAT", &zlib_compress(&raw));
    push_chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
        let big = vec![0xFFu8; 100_000];
        // Reference: the definition, with the modulus taken at every step.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + x as u64) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    #[test]
    fn zlib_header_is_valid() {
        let z = zlib_compress(b"hello hello hello");
        assert_eq!((z[0] as u32 * 256 + z[1] as u32) % 31, 0);
        assert_eq!(
            &z[z.len() - 4..],
            &adler32(b"hello hello hello").to_be_bytes()
        );
    }

    #[test]
    fn repetitive_data_compresses() {
        let data = vec![255u8; 60_000];
        assert!(deflate_fixed(&data).len() < 1_000);
    }
}
