//! Ranks as threads of one process, exchanging through shared memory. It runs the same
//! data-parallel code as MPI, so that code is tested without an MPI installation.
use super::Comm;
use anyhow::{bail, Result};
use std::sync::{Arc, Barrier, Mutex};

struct Shared {
    barrier: Barrier,
    /// board[from][to]: what `from` sends to `to` in the current exchange.
    board: Mutex<Vec<Vec<Vec<u8>>>>,
}

pub struct ThreadComm {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl ThreadComm {
    /// The `size` members of one group; hand each to its own thread.
    pub fn group(size: usize) -> Vec<ThreadComm> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(size),
            board: Mutex::new(vec![Vec::new(); size]),
        });
        (0..size)
            .map(|rank| ThreadComm {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Run `f` on `size` ranks (one thread each) and return their results by rank.
    pub fn run<T: Send>(size: usize, f: impl Fn(&ThreadComm) -> T + Sync) -> Vec<T> {
        let group = ThreadComm::group(size);
        std::thread::scope(|s| {
            let handles: Vec<_> = group.iter().map(|c| s.spawn(|| f(c))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rank thread panicked"))
                .collect()
        })
    }
}

impl Comm for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.size
    }
    fn barrier(&self) -> Result<()> {
        self.shared.barrier.wait();
        Ok(())
    }
    fn all_to_all_bytes(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if send.len() != self.size {
            bail!(
                "all_to_all: {} buffers for a world of {}",
                send.len(),
                self.size
            );
        }
        self.shared.board.lock().expect("board lock")[self.rank] = send.to_vec();
        self.shared.barrier.wait();
        let got = {
            let board = self.shared.board.lock().expect("board lock");
            board.iter().map(|from| from[self.rank].clone()).collect()
        };
        // Nobody may post the next exchange before everyone has read this one.
        self.shared.barrier.wait();
        Ok(got)
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted with code {code}", self.rank)
    }
    fn describe(&self) -> String {
        format!("thread rank {} of {}", self.rank, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_route_by_rank() {
        let out = ThreadComm::run(3, |c| {
            let send: Vec<Vec<u8>> = (0..3).map(|q| vec![c.rank() as u8, q as u8]).collect();
            let got = c.all_to_all_bytes(&send).unwrap();
            let gathered = c.all_gather_bytes(&[c.rank() as u8 * 10]).unwrap();
            let mut b = if c.rank() == 2 { vec![9, 9] } else { vec![] };
            c.broadcast_bytes(2, &mut b).unwrap();
            (got, gathered, b)
        });
        for (r, (got, gathered, b)) in out.into_iter().enumerate() {
            assert_eq!(
                got,
                (0..3).map(|f| vec![f as u8, r as u8]).collect::<Vec<_>>()
            );
            assert_eq!(gathered, vec![vec![0], vec![10], vec![20]]);
            assert_eq!(b, vec![9, 9]);
        }
    }
}
