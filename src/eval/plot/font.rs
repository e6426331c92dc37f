//! The one typeface of every plot, built into the binary so PNGs look the same on every machine
//! (no system font lookup). It is DejaVu Sans 2.37 (licence in `fonts/LICENSE`: free to
//! redistribute and modify under a name without "Bitstream", "Vera" or "Arev"), cut down to
//! Latin, Greek, punctuation, arrows and mathematical operators to keep the binary small:
//!
//! ```text
//! pyftsubset DejaVuSans.ttf --unicodes="U+0020-007E,U+00A0-017F,U+0370-03FF,U+2010-205E,\
//!   U+2070-209F,U+20AC,U+2190-2193,U+2200-22FF,U+FFFD" --layout-features=kern --legacy-kern \
//!   --no-hinting --drop-tables+=MATH,FFTM --output-file=fonts/DejaVuSans.ttf
//! ```
//!
//! Other characters are drawn as the font's empty box.

use anyhow::{anyhow, Result};
use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The family name plots ask for; SVG viewers substitute their own sans-serif font.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// Register the embedded font with plotters under [`FAMILY`] (once per process).
pub fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the plot font built into rlvr does not parse"))
}
