//! A packed batch: token sequences laid end to end, with positions and sequence spans.

#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub positions: Vec<u32>,
    /// (first row, length) of each sequence.
    pub seqs: Vec<(usize, usize)>,
}

impl Batch {
    pub fn from_sequences<S: AsRef<[u32]>>(seqs: &[S]) -> Batch {
        let mut b = Batch::default();
        for s in seqs {
            let s = s.as_ref();
            b.seqs.push((b.tokens.len(), s.len()));
            b.tokens.extend_from_slice(s);
            b.positions.extend(0..s.len() as u32);
        }
        b
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Rows whose next token is predicted inside the same sequence (every row but each
    /// sequence's last), with that next token: the (row, target) pairs of a causal LM loss.
    pub fn next_token_rows(&self) -> (Vec<usize>, Vec<u32>) {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for &(start, len) in &self.seqs {
            for i in 0..len.saturating_sub(1) {
                rows.push(start + i);
                targets.push(self.tokens[start + i + 1]);
            }
        }
        (rows, targets)
    }
}
