//! The emulator's Hopper layouts against an independent reference: CUTLASS's CuTe, whose maps
//! scripts/setup-cute-layouts.sh writes to target/cute-layouts.txt (or $RLVR_CUTE_LAYOUTS).
//! Compared: the wgmma accumulator map for every N (multiple of 8 up to 256), the register-A
//! fragment map, the 32/64/128-byte swizzles, and for the canonical K-major and MN-major operand
//! layouts of every swizzle mode, the shared-memory address of every element as the emulator
//! decodes it from the descriptor CuTe builds. Skips with a message while the file is absent.
mod emu_common;

use rlvr::backend::emu::hopper::{swizzle, wgmma_a_map, wgmma_acc_map, wgmma_desc_address};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn layouts_file() -> PathBuf {
    std::env::var_os("RLVR_CUTE_LAYOUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cute-layouts.txt")
        })
}

/// One descriptor CuTe built and the element addresses of its operand slice.
struct Desc {
    mn_major: bool,
    span: u32,
    mn: usize,
    kb: usize,
    desc: u64,
    elems: Vec<(usize, usize, u32)>,
}

#[derive(Default)]
struct Cute {
    acc: BTreeMap<usize, Vec<(usize, usize, i32, i32)>>,
    areg: Vec<(usize, usize, i32, i32)>,
    swz: Vec<(u32, u32, u32)>,
    descs: Vec<Desc>,
}

fn num<T: std::str::FromStr>(f: &[&str], i: usize, line: usize) -> T {
    f.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cute layouts line {line}: field {i} of {f:?} is not a number"))
}

fn parse(text: &str) -> Cute {
    let mut c = Cute::default();
    for (ln, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ln = ln + 1;
        match f.first().copied() {
            Some("acc") => c.acc.entry(num(&f, 1, ln)).or_default().push((
                num(&f, 2, ln),
                num(&f, 3, ln),
                num(&f, 4, ln),
                num(&f, 5, ln),
            )),
            Some("areg") => c.areg.push((
                num(&f, 1, ln),
                num(&f, 2, ln),
                num(&f, 3, ln),
                num(&f, 4, ln),
            )),
            Some("swz") => c.swz.push((num(&f, 1, ln), num(&f, 2, ln), num(&f, 3, ln))),
            Some("desc") => c.descs.push(Desc {
                mn_major: f.get(1) == Some(&"MN"),
                span: num(&f, 2, ln),
                mn: num(&f, 3, ln),
                kb: num(&f, 4, ln),
                desc: u64::from_str_radix(f.get(5).copied().unwrap_or(""), 16)
                    .unwrap_or_else(|_| panic!("cute layouts line {ln}: bad descriptor {f:?}")),
                elems: Vec::new(),
            }),
            Some("elem") => c
                .descs
                .last_mut()
                .unwrap_or_else(|| panic!("cute layouts line {ln}: element before any descriptor"))
                .elems
                .push((num(&f, 1, ln), num(&f, 2, ln), num(&f, 3, ln))),
            _ => panic!("cute layouts line {ln}: unknown record {line:?}"),
        }
    }
    c
}

fn cute_or_skip() -> Option<Cute> {
    if !emu_common::emu_available() {
        return None;
    }
    let path = layouts_file();
    match std::fs::read_to_string(&path) {
        Ok(t) => Some(parse(&t)),
        Err(_) => {
            eprintln!(
                "skipped: no CuTe layout reference at {} (run scripts/setup-cute-layouts.sh)",
                path.display()
            );
            None
        }
    }
}

#[test]
fn accumulator_and_register_a_maps_match_cute() {
    let Some(cute) = cute_or_skip() else {
        return;
    };
    assert_eq!(cute.acc.len(), 32, "CuTe maps for N = 8, 16, ..., 256");
    for (&n, entries) in &cute.acc {
        let emu = wgmma_acc_map(n).unwrap();
        assert_eq!(entries.len(), emu.len(), "m64n{n}k16 accumulator count");
        for &(t, i, row, col) in entries {
            assert_eq!(
                emu[t * n / 2 + i],
                (row, col),
                "m64n{n}k16 thread {t} value {i}"
            );
        }
    }
    let emu = wgmma_a_map().unwrap();
    assert_eq!(cute.areg.len(), 1024);
    for &(t, v, row, k) in &cute.areg {
        assert_eq!(emu[t * 8 + v], (row, k), "register A thread {t} value {v}");
    }
}

#[test]
fn swizzles_match_cute() {
    let Some(cute) = cute_or_skip() else {
        return;
    };
    assert_eq!(cute.swz.len(), 3 * 2048);
    for &(span, addr, want) in &cute.swz {
        assert_eq!(
            swizzle(span, addr).unwrap(),
            want,
            "{span}-byte swizzle of {addr}"
        );
    }
}

#[test]
fn descriptor_decoding_matches_cute_for_every_canonical_layout() {
    let Some(cute) = cute_or_skip() else {
        return;
    };
    let mut seen = BTreeMap::new();
    for d in &cute.descs {
        assert_eq!(d.elems.len(), d.mn * 16, "descriptor {:016x}", d.desc);
        for &(mn, k, want) in &d.elems {
            let got = wgmma_desc_address(d.desc, d.mn_major, mn, k).unwrap();
            assert_eq!(
                got,
                want,
                "{} {}-byte swizzle, {} rows, k block {}, descriptor {:016x}: element ({mn}, {k})",
                if d.mn_major { "MN-major" } else { "K-major" },
                d.span,
                d.mn,
                d.kb,
                d.desc
            );
        }
        *seen.entry((d.mn_major, d.span)).or_insert(0) += 1;
    }
    // Both majors with every swizzle mode were compared.
    assert_eq!(seen.len(), 8, "{seen:?}");
}
