//! Stated maxima for counts read from flags and files, checked before anything is allocated, so
//! a typo (`--n 100000000000`) is an error naming the flag instead of an allocation abort.

/// Most samples per prompt (`--n`): the paper's largest protocol draws 256.
pub const MAX_SAMPLES_PER_PROMPT: usize = 1 << 16;

/// Most sequences one command generates in total (prompts × samples).
pub const MAX_TOTAL_SEQUENCES: usize = 1 << 26;

/// Checks `value` of `name` against `1..=max`.
pub fn check_count(name: &str, value: usize, max: usize) -> anyhow::Result<()> {
    if value == 0 || value > max {
        anyhow::bail!("{name} must be in 1..={max}, got {value}");
    }
    Ok(())
}

/// Checks `prompts × n` against [`MAX_TOTAL_SEQUENCES`].
pub fn check_total(prompts: usize, n: usize) -> anyhow::Result<()> {
    match prompts.checked_mul(n) {
        Some(t) if t <= MAX_TOTAL_SEQUENCES => Ok(()),
        _ => anyhow::bail!(
            "{prompts} prompts × --n {n} sequences is more than the {MAX_TOTAL_SEQUENCES} one run may generate; lower --n or split the prompts"
        ),
    }
}
