//! A TCP rendezvous for torchrun-style launches (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
//! no MPI): rank 0 listens, every other rank connects to it, and from then on every message goes
//! through rank 0 (a star). It carries small things only (the NCCL id, rollouts, metrics), so the
//! simplest correct topology is enough.
//!
//! Wire format: a frame is a little-endian u64 length and that many bytes. A rank introduces
//! itself with `MAGIC`, its rank and the world size (u32 each); rank 0 answers `MAGIC` and the
//! world size, so a rank that reached some other service (say torchrun's own store) finds out
//! at once instead of hanging.
use anyhow::{bail, Context, Result};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 8] = b"rlvr-st1";
/// Larger frames are taken for a corrupt length rather than allocated.
const MAX_FRAME: u64 = 1 << 36;

/// Where rank 0's store listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for StoreAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The connections of one rank after the rendezvous.
pub enum Links {
    /// Rank 0: the stream of rank q at index q - 1.
    Hub(Vec<TcpStream>),
    /// Every other rank: its stream to rank 0.
    Spoke(TcpStream),
}

/// Rank 0's side: listen on every interface at `addr.port` (the others reach it through
/// whatever `addr.host` resolves to on their machine) and wait for `world - 1` ranks.
pub fn host(addr: &StoreAddr, world: usize, timeout: Duration) -> Result<Links> {
    let any: IpAddr = match addr.host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => IpAddr::from([0u16; 8]),
        _ => IpAddr::from([0u8; 4]),
    };
    let listener = TcpListener::bind(SocketAddr::new(any, addr.port)).with_context(|| {
        format!(
            "rank 0: cannot listen on port {} for the rendezvous store ({addr}); is the port in \
             use (under torchrun set RLVR_STORE_PORT to a free port)?",
            addr.port
        )
    })?;
    serve(listener, world, timeout)
}

/// Rank 0's side on an already bound listener: accept `world - 1` ranks within `timeout`.
pub fn serve(listener: TcpListener, world: usize, timeout: Duration) -> Result<Links> {
    let local = listener
        .local_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .context("rendezvous: setting the listener non-blocking")?;
    let mut peers: Vec<Option<TcpStream>> = (1..world).map(|_| None).collect();
    while peers.iter().any(Option::is_none) {
        let (stream, from) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                if Instant::now() >= deadline {
                    let missing: Vec<usize> =
                        (1..world).filter(|q| peers[q - 1].is_none()).collect();
                    bail!(
                        "rank 0: ranks {missing:?} of {world} did not connect to the rendezvous \
                         store on {local} within {timeout:?} (did they start, and can they reach \
                         MASTER_ADDR?)"
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e).context("rendezvous: accepting a connection"),
        };
        stream
            .set_nonblocking(false)
            .context("rendezvous: setting a connection blocking")?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Something that is not a rank (a port scanner, a stale client) is dropped, not fatal.
        let hello_wait = remaining.clamp(Duration::from_secs(1), Duration::from_secs(10));
        let Some(q) = greet(&stream, world, hello_wait)? else {
            eprintln!("rendezvous: ignored a connection from {from} that is not an rlvr rank");
            continue;
        };
        if peers[q - 1].is_some() {
            bail!("rank 0: two processes claim rank {q} (from {from}); check RANK on each node");
        }
        peers[q - 1] = Some(stream);
    }
    Ok(Links::Hub(peers.into_iter().flatten().collect()))
}

/// Reads a rank's introduction and answers it; `None` when the peer is not an rlvr rank.
fn greet(stream: &TcpStream, world: usize, timeout: Duration) -> Result<Option<usize>> {
    stream.set_read_timeout(Some(timeout))?;
    let mut hello = [0u8; 16];
    if (&*stream).read_exact(&mut hello).is_err() || &hello[..8] != MAGIC {
        return Ok(None);
    }
    let rank = u32::from_le_bytes(hello[8..12].try_into().expect("4 bytes")) as usize;
    let their_world = u32::from_le_bytes(hello[12..16].try_into().expect("4 bytes")) as usize;
    if their_world != world {
        bail!("rank 0: rank {rank} says the world has {their_world} ranks, rank 0 says {world}; check WORLD_SIZE on every node");
    }
    if rank == 0 || rank >= world {
        bail!("rank 0: a process connected as rank {rank}, outside 1..{world}");
    }
    let mut answer = MAGIC.to_vec();
    answer.extend((world as u32).to_le_bytes());
    (&*stream)
        .write_all(&answer)
        .with_context(|| format!("rank 0: answering rank {rank}"))?;
    stream.set_read_timeout(None)?;
    stream.set_nodelay(true)?;
    Ok(Some(rank))
}

/// A non-zero rank's side: connect to rank 0 at `addr`, retrying until `timeout` (rank 0 may
/// start later), and introduce this rank.
pub fn join(addr: &StoreAddr, rank: usize, world: usize, timeout: Duration) -> Result<Links> {
    if rank == 0 || rank >= world {
        bail!("join: rank {rank} is not one of 1..{world}");
    }
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt");
    let stream = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            bail!(
                "rank {rank}: could not connect to rank 0's rendezvous store at {addr} within \
                 {timeout:?} (check MASTER_ADDR/MASTER_PORT, and that rank 0 started): {last}"
            );
        }
        match connect_once(addr, remaining.min(Duration::from_secs(5))) {
            Ok(s) => break s,
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(100).min(remaining));
    };
    let mut hello = MAGIC.to_vec();
    hello.extend((rank as u32).to_le_bytes());
    hello.extend((world as u32).to_le_bytes());
    (&stream)
        .write_all(&hello)
        .with_context(|| format!("rank {rank}: introducing itself to rank 0 at {addr}"))?;
    stream.set_read_timeout(Some(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1)),
    ))?;
    let mut answer = [0u8; 12];
    (&stream).read_exact(&mut answer).with_context(|| {
        format!(
            "rank {rank}: {addr} did not answer as rank 0 of rlvr (another service on that port? \
             under torchrun set RLVR_STORE_PORT), or rank 0 refused this rank (see its log)"
        )
    })?;
    if &answer[..8] != MAGIC {
        bail!("rank {rank}: {addr} is not rank 0's rendezvous store (another service answered; set RLVR_STORE_PORT)");
    }
    stream.set_read_timeout(None)?;
    stream.set_nodelay(true)?;
    Ok(Links::Spoke(stream))
}

fn connect_once(addr: &StoreAddr, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e).with_context(|| format!("connecting to {addr}")),
        None => bail!("{addr} resolves to no address"),
    }
}

/// Both sides of the rendezvous: rank 0 hosts, the others join.
pub fn rendezvous(addr: &StoreAddr, rank: usize, world: usize, timeout: Duration) -> Result<Links> {
    if rank == 0 {
        host(addr, world, timeout)
    } else {
        join(addr, rank, world, timeout)
    }
}

pub fn write_frame(mut w: impl Write, data: &[u8]) -> std::io::Result<()> {
    w.write_all(&(data.len() as u64).to_le_bytes())?;
    w.write_all(data)
}

pub fn read_frame(mut r: impl Read) -> Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        bail!("a frame of {len} bytes (corrupt stream?)");
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A port that was free a moment ago.
    pub(crate) fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port()
    }

    #[test]
    fn ranks_meet_and_frames_round_trip() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        let t = Duration::from_secs(20);
        std::thread::scope(|s| {
            let others: Vec<_> = (1..3usize)
                .map(|r| {
                    let addr = addr.clone();
                    s.spawn(move || {
                        let Links::Spoke(st) = join(&addr, r, 3, t).unwrap() else {
                            panic!("rank {r} is not a spoke")
                        };
                        write_frame(&st, &[r as u8; 3]).unwrap();
                        read_frame(&st).unwrap()
                    })
                })
                .collect();
            let Links::Hub(peers) = serve(listener, 3, t).unwrap() else {
                panic!("rank 0 is not the hub")
            };
            for (i, p) in peers.iter().enumerate() {
                assert_eq!(read_frame(p).unwrap(), vec![i as u8 + 1; 3]);
                write_frame(p, b"ok").unwrap();
            }
            for h in others {
                assert_eq!(h.join().unwrap(), b"ok");
            }
        });
    }

    #[test]
    fn a_missing_rank_0_times_out_naming_the_address() {
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port: free_port(),
        };
        let t0 = Instant::now();
        let err = join(&addr, 1, 3, Duration::from_millis(400)).err().unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&addr.to_string()) && msg.contains("rank 0"),
            "{msg}"
        );
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn rank_0_names_the_ranks_that_never_came() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        std::thread::scope(|s| {
            let one = s.spawn(|| join(&addr, 1, 3, Duration::from_secs(20)));
            let err = serve(listener, 3, Duration::from_secs(3)).err().unwrap();
            assert!(format!("{err:#}").contains("[2]"), "{err:#}");
            // Rank 1 got in before rank 0 gave up.
            assert!(one.join().unwrap().is_ok());
        });
    }

    #[test]
    fn a_world_size_mismatch_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        std::thread::scope(|s| {
            let one = s.spawn(|| join(&addr, 1, 4, Duration::from_secs(20)));
            let err = serve(listener, 3, Duration::from_secs(20)).err().unwrap();
            assert!(format!("{err:#}").contains("WORLD_SIZE"), "{err:#}");
            assert!(one.join().unwrap().is_err());
        });
    }

    #[test]
    fn a_stranger_on_the_port_is_ignored() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = StoreAddr {
            host: "127.0.0.1".into(),
            port,
        };
        // Queued before rank 1, so rank 0 meets it first.
        let mut stranger = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stranger.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        std::thread::scope(|s| {
            let one = s.spawn(|| join(&addr, 1, 2, Duration::from_secs(20)));
            assert!(serve(listener, 2, Duration::from_secs(20)).is_ok());
            assert!(one.join().unwrap().is_ok());
        });
    }

    #[test]
    fn store_addr_displays_ipv6_in_brackets() {
        let a = StoreAddr {
            host: "::1".into(),
            port: 29500,
        };
        assert_eq!(a.to_string(), "[::1]:29500");
    }
}
