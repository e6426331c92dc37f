//! The host collectives over the TCP rendezvous (`store`), for torchrun-style launches without
//! MPI. Rank 0 is a hub: it reads every rank's message in rank order, then sends each rank its
//! share, so an exchange delivers exactly the bytes `ThreadComm` or MPI would, and the ordered
//! reductions of `reduce` give the same bits.
use super::store::{read_frame, rendezvous, serve, write_frame, Links, StoreAddr};
use super::Comm;
use anyhow::{bail, Context, Result};
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Which collective a message belongs to, so ranks that call different ones fail loudly.
const OP_ALL_TO_ALL: u8 = 1;
const OP_BARRIER: u8 = 2;

fn op_name(op: u8) -> String {
    match op {
        OP_ALL_TO_ALL => "all_to_all".into(),
        OP_BARRIER => "barrier".into(),
        x => format!("unknown operation {x}"),
    }
}

pub struct TcpComm {
    rank: usize,
    world: usize,
    links: Links,
    addr: String,
}

impl TcpComm {
    /// Rendezvous at `addr` as `rank` of `world` (rank 0 hosts the store there).
    pub fn connect(addr: &StoreAddr, rank: usize, world: usize, timeout: Duration) -> Result<Self> {
        if world == 0 || rank >= world {
            bail!("rank {rank} of a world of {world}");
        }
        let links = if world == 1 {
            Links::Hub(Vec::new())
        } else {
            rendezvous(addr, rank, world, timeout)?
        };
        Ok(TcpComm {
            rank,
            world,
            links,
            addr: addr.to_string(),
        })
    }

    /// Rank 0 on an already bound listener (tests pick a free port this way).
    pub fn host_on(listener: TcpListener, world: usize, timeout: Duration) -> Result<Self> {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        Ok(TcpComm {
            rank: 0,
            world,
            links: serve(listener, world, timeout)?,
            addr,
        })
    }

    fn lost(&self, peer: usize) -> String {
        format!(
            "rank {}: connection to rank {peer} lost (did it exit? see its log)",
            self.rank
        )
    }
}

fn read_op(mut r: impl Read) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_frames(mut r: impl Read, n: usize) -> Result<Vec<Vec<u8>>> {
    (0..n).map(|_| read_frame(&mut r)).collect()
}

fn send_frames(stream: &TcpStream, op: Option<u8>, frames: &[&[u8]]) -> std::io::Result<()> {
    let mut w = BufWriter::new(stream);
    if let Some(op) = op {
        w.write_all(&[op])?;
    }
    for f in frames {
        write_frame(&mut w, f)?;
    }
    w.flush()
}

impl Comm for TcpComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world
    }

    fn barrier(&self) -> Result<()> {
        match &self.links {
            Links::Hub(peers) => {
                for (i, p) in peers.iter().enumerate() {
                    let op = read_op(p).with_context(|| self.lost(i + 1))?;
                    if op != OP_BARRIER {
                        bail!(
                            "rank {} called {} while rank 0 called barrier (collectives out of order)",
                            i + 1,
                            op_name(op)
                        );
                    }
                }
                for (i, p) in peers.iter().enumerate() {
                    (&*p)
                        .write_all(&[OP_BARRIER])
                        .with_context(|| self.lost(i + 1))?;
                }
            }
            Links::Spoke(s) => {
                (&*s)
                    .write_all(&[OP_BARRIER])
                    .with_context(|| self.lost(0))?;
                let op = read_op(s).with_context(|| self.lost(0))?;
                if op != OP_BARRIER {
                    bail!(
                        "rank {}: rank 0 answered a barrier with {}",
                        self.rank,
                        op_name(op)
                    );
                }
            }
        }
        Ok(())
    }

    fn all_to_all_bytes(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if send.len() != self.world {
            bail!(
                "all_to_all: {} buffers for a world of {}",
                send.len(),
                self.world
            );
        }
        match &self.links {
            Links::Hub(peers) => {
                // board[from][to], filled in rank order.
                let mut board: Vec<Vec<Vec<u8>>> = vec![send.to_vec()];
                for (i, p) in peers.iter().enumerate() {
                    let op = read_op(p).with_context(|| self.lost(i + 1))?;
                    if op != OP_ALL_TO_ALL {
                        bail!(
                            "rank {} called {} while rank 0 called all_to_all (collectives out of order)",
                            i + 1,
                            op_name(op)
                        );
                    }
                    board.push(read_frames(p, self.world).with_context(|| self.lost(i + 1))?);
                }
                for (i, p) in peers.iter().enumerate() {
                    let to = i + 1;
                    let col: Vec<&[u8]> = board.iter().map(|from| from[to].as_slice()).collect();
                    send_frames(p, None, &col).with_context(|| self.lost(to))?;
                }
                Ok(board
                    .iter_mut()
                    .map(|from| std::mem::take(&mut from[0]))
                    .collect())
            }
            Links::Spoke(s) => {
                let frames: Vec<&[u8]> = send.iter().map(Vec::as_slice).collect();
                send_frames(s, Some(OP_ALL_TO_ALL), &frames).with_context(|| self.lost(0))?;
                read_frames(s, self.world).with_context(|| self.lost(0))
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "TCP rank {} of {} (store at {})",
            self.rank, self.world, self.addr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{all_reduce_sum_f32, gather_f64, reduce_scatter_sum_f32, ThreadComm};

    /// Run `f` on `world` TCP ranks (threads of this process, on 127.0.0.1) and return their
    /// results by rank.
    fn run_tcp<T: Send>(world: usize, f: impl Fn(&dyn Comm) -> T + Sync) -> Vec<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        let t = Duration::from_secs(30);
        let f = &f;
        std::thread::scope(|s| {
            let mut handles =
                vec![s.spawn(move || f(&TcpComm::host_on(listener, world, t).unwrap()))];
            for r in 1..world {
                let addr = addr.clone();
                handles.push(s.spawn(move || f(&TcpComm::connect(&addr, r, world, t).unwrap())));
            }
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// What the data-parallel code asks of a transport, returned for comparison across them.
    fn exercise(c: &dyn Comm) -> Vec<Vec<u8>> {
        let (r, w) = (c.rank(), c.world_size());
        let mut out = Vec::new();
        // Unequal lengths, an empty buffer, and a self-send.
        let send: Vec<Vec<u8>> = (0..w).map(|q| vec![(r * 10 + q) as u8; r + q]).collect();
        out.extend(c.all_to_all_bytes(&send).unwrap());
        out.extend(c.all_gather_bytes(&[r as u8; 5]).unwrap());
        // A 128-byte payload (the size of an NCCL id) from the last rank.
        let mut b = if r == w - 1 {
            vec![7u8; 128]
        } else {
            Vec::new()
        };
        c.broadcast_bytes(w - 1, &mut b).unwrap();
        out.push(b);
        c.barrier().unwrap();
        // Ordered reductions over values whose sum depends on the order of addition.
        let vals: Vec<f32> = (0..37)
            .map(|i| ((i * 7 + r * 13) as f32).sin() * 10f32.powi((i % 7) as i32 - 3))
            .collect();
        let mut all = vals.clone();
        all_reduce_sum_f32(c, &mut all).unwrap();
        out.push(crate::dist::wire::f32_bytes(&all));
        let ranges: Vec<_> = (0..w).map(|q| crate::dist::block(37, w, q)).collect();
        let parts = [vals.clone(), vals.iter().map(|x| x * 0.5).collect()];
        let mine = reduce_scatter_sum_f32(c, &parts, &ranges).unwrap();
        out.push(crate::dist::wire::f32_bytes(&mine));
        let g = gather_f64(c, &[r as f64 + 0.25]).unwrap();
        out.push(g.concat().iter().flat_map(|x| x.to_le_bytes()).collect());
        c.barrier().unwrap();
        out
    }

    #[test]
    fn tcp_ranks_compute_what_thread_ranks_compute() {
        let tcp = run_tcp(3, exercise);
        let threads = ThreadComm::run(3, |c| exercise(c));
        assert_eq!(tcp, threads);
        // And the exchange routed by rank (checked directly, not only against ThreadComm).
        for (r, out) in tcp.iter().enumerate() {
            for f in 0..3 {
                assert_eq!(out[f], vec![(f * 10 + r) as u8; f + r]);
                assert_eq!(out[3 + f], vec![f as u8; 5]);
            }
            assert_eq!(out[6], vec![7u8; 128]);
        }
    }

    #[test]
    fn a_world_of_one_needs_no_network() {
        let addr = StoreAddr {
            host: "unused.invalid".into(),
            port: 1,
        };
        let c = TcpComm::connect(&addr, 0, 1, Duration::from_millis(10)).unwrap();
        assert_eq!(exercise(&c), exercise(&crate::dist::Single));
    }

    #[test]
    fn mismatched_collectives_fail_instead_of_hanging() {
        let out = run_tcp(2, |c| {
            if c.rank() == 0 {
                c.all_to_all_bytes(&[vec![], vec![]]).map(|_| ())
            } else {
                c.barrier()
            }
        });
        let err = out[0].as_ref().unwrap_err();
        assert!(format!("{err:#}").contains("out of order"), "{err:#}");
        // Rank 1 sees rank 0 hang up.
        assert!(out[1].is_err());
    }

    #[test]
    fn a_rank_that_exits_is_reported() {
        let out = run_tcp(2, |c| {
            if c.rank() == 0 {
                c.barrier().map_err(|e| format!("{e:#}"))
            } else {
                Ok(()) // returns, closing its connection
            }
        });
        assert!(
            out[0].as_ref().unwrap_err().contains("rank 1"),
            "{:?}",
            out[0]
        );
    }
}
