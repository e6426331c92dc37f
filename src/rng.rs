//! Random numbers: Philox4x32-10 (counter-based: a draw is a pure function of (key, counter),
//! so sampling is reproducible regardless of batch composition or thread order) and SplitMix64
//! for seeding and initialisation.

/// SplitMix64: small, fast, good enough for initialisation and shuffles.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform f32 in [lo, hi), from the top 24 bits of one draw (every such value is exact).
    pub fn uniform_f32(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// `n` draws of [`Self::uniform_f32`].
    pub fn uniform_f32_vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform_f32(lo, hi)).collect()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Uniform integer in 0..n (n > 0), by a multiply-high (one draw; bias < n/2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform integer in 0..n (n ≥ 1) by rejection, so no value is favoured at all (the
    /// synthetic tasks use this; their streams are fixed by it).
    pub fn below_unbiased(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// Uniform in `lo..=hi` (unbiased).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        lo + self.below_unbiased((hi - lo) as u64 + 1) as i64
    }

    /// A uniformly chosen element (unbiased); `items` must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below_unbiased(items.len() as u64) as usize]
    }
}

/// Philox4x32 with 10 rounds (Salmon et al. 2011), the generator cuRAND uses.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    const M0: u64 = 0xD251_1F53;
    const M1: u64 = 0xCD9E_8D57;
    const W0: u32 = 0x9E37_79B9;
    const W1: u32 = 0xBB67_AE85;
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let p0 = M0 * c[0] as u64;
        let p1 = M1 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// A uniform in (0, 1) keyed by (seed, stream, step, lane): the draw for sequence `stream` at
/// decode step `step` does not depend on which other sequences share the batch.
pub fn philox_uniform(seed: u64, stream: u64, step: u64, lane: u32) -> f64 {
    let out = philox4x32(
        [
            step as u32,
            (step >> 32) as u32,
            stream as u32,
            (stream >> 32) as u32,
        ],
        [seed as u32, (seed >> 32) as u32],
    );
    let bits =
        ((out[lane as usize % 2 * 2] as u64) << 32 | out[lane as usize % 2 * 2 + 1] as u64) >> 11;
    (bits as f64 + 0.5) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answer() {
        // Known-answer vector from the Random123 distribution (philox4x32_10, all-ones input).
        let r = philox4x32([0xffff_ffff; 4], [0xffff_ffff; 2]);
        assert_eq!(r, [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
        let r = philox4x32([0; 4], [0; 2]);
        assert_eq!(r, [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    }

    #[test]
    fn uniforms_in_open_interval_and_mean_half() {
        let n = 20000;
        let s: f64 = (0..n)
            .map(|i| philox_uniform(7, 3, i, 0))
            .inspect(|&u| assert!(u > 0.0 && u < 1.0))
            .sum();
        assert!((s / n as f64 - 0.5).abs() < 0.01);
    }
}
