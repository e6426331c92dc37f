//! Little-endian encoding of what ranks exchange (samples, per-token values, statistics).
//! Floats travel as their bit patterns, so a gathered value is exactly the value computed.
use anyhow::{bail, Result};

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn bytes_f32(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        bail!("f32 message of {} bytes is not a multiple of 4", b.len());
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn f64(&mut self, x: f64) -> &mut Self {
        self.u64(x.to_bits())
    }
    pub fn f32(&mut self, x: f32) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u32s(&mut self, v: &[u32]) -> &mut Self {
        self.u64(v.len() as u64);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
        self
    }
    pub fn f32s(&mut self, v: &[f32]) -> &mut Self {
        self.u64(v.len() as u64);
        for x in v {
            self.f32(*x);
        }
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    pub fn done(&self) -> bool {
        self.at == self.buf.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.at < n {
            bail!(
                "truncated message: wanted {n} bytes at offset {} of {}",
                self.at,
                self.buf.len()
            );
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn f32(&mut self) -> Result<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn len(&mut self, elem: usize) -> Result<usize> {
        let n = self.u64()? as usize;
        if n.saturating_mul(elem) > self.buf.len() - self.at {
            bail!("corrupt message: length {n} exceeds the remaining bytes");
        }
        Ok(n)
    }
    pub fn u32s(&mut self) -> Result<Vec<u32>> {
        let n = self.len(4)?;
        let b = self.take(4 * n)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    pub fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.len(4)?;
        bytes_f32(self.take(4 * n)?)
    }
    pub fn str(&mut self) -> Result<String> {
        let n = self.len(1)?;
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        let mut w = Writer::default();
        w.u64(7)
            .f64(-0.1)
            .f32(f32::NAN)
            .u32s(&[1, 2])
            .f32s(&[-0.0, 1e-40])
            .str("é");
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.f64().unwrap(), -0.1);
        assert!(r.f32().unwrap().is_nan());
        assert_eq!(r.u32s().unwrap(), vec![1, 2]);
        let f = r.f32s().unwrap();
        assert_eq!(f[0].to_bits(), (-0.0f32).to_bits());
        assert_eq!(f[1], 1e-40);
        assert_eq!(r.str().unwrap(), "é");
        assert!(r.done());
        assert!(r.u64().is_err());
        assert!(bytes_f32(&[0, 0, 0]).is_err());
    }
}
