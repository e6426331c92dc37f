//! CPU time of this process, which says more than wall time about a program's cost on a busy
//! shared machine.

/// User + system CPU seconds of this process so far, all threads (Linux /proc; clock ticks at
/// USER_HZ, which is 100 on every Linux ABI). `None` where /proc is unavailable.
pub fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// 1-minute load average (Linux), so a report says how busy the machine was.
pub fn load_average() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let Some(a) = process_cpu_secs() else {
            return; // no /proc here
        };
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let b = process_cpu_secs().unwrap();
        assert!(b > a, "{a} -> {b}");
        assert!(load_average().is_some_and(|l| l >= 0.0));
    }
}
