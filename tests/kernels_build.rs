//! What build.rs produced: fatbins and ptxas report (when nvcc was available) and an emulator
//! library that defines the same kernels as kernels/*.cu.
use rlvr::backend::cuda::kernels::{
    fatbin, EMU_BUILT, FATBINS, KERNELS_COMPILED, KERNEL_FILES, PTXAS_REPORT,
};

#[test]
fn fatbins_are_embedded_when_nvcc_was_found() {
    assert!(!FATBINS.is_empty(), "kernels/*.cu not listed");
    for (file, bytes) in FATBINS {
        if KERNELS_COMPILED {
            assert!(bytes.len() > 16, "{file}: empty fatbin");
            let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
            assert_eq!(magic, 0xBA55_ED50, "{file}: not a fatbin");
        } else {
            assert!(bytes.is_empty());
        }
    }
}

#[test]
fn ptxas_report_covers_every_kernel_on_both_sass_targets() {
    if !KERNELS_COMPILED {
        eprintln!("skipped: built without nvcc");
        return;
    }
    for (kernel, file) in KERNEL_FILES {
        assert!(fatbin(file).is_some());
        for arch in ["sm_80", "sm_90a"] {
            let row = PTXAS_REPORT
                .lines()
                .find(|l| {
                    l.split('\t').nth(1) == Some(*kernel) && l.split('\t').nth(2) == Some(arch)
                })
                .unwrap_or_else(|| panic!("{kernel} ({arch}) missing from the ptxas report"));
            let cols: Vec<&str> = row.split('\t').collect();
            let regs: u32 = cols[3].parse().unwrap();
            assert!(regs > 0 && regs <= 255, "{kernel}: {regs} registers");
            assert_eq!(
                (cols[4], cols[5]),
                ("0", "0"),
                "{kernel} ({arch}) spills registers"
            );
        }
    }
}

#[test]
fn emulator_defines_the_same_kernels_as_the_cuda_build() {
    if !EMU_BUILT {
        eprintln!("skipped: emulator not built");
        return;
    }
    let emu = rlvr::backend::emu::kernel_names();
    for (kernel, _) in KERNEL_FILES {
        assert!(
            emu.iter().any(|k| k == kernel),
            "{kernel} is missing from the emulator"
        );
    }
    for k in &emu {
        assert!(
            k.starts_with("planted_")
                || k.starts_with("count_")
                || k.starts_with("emu_probe_")
                || KERNEL_FILES.iter().any(|(n, _)| n == k),
            "emulator kernel {k} is not in kernels/*.cu (nor a planted or counter-test kernel)"
        );
    }
}

/// One op, one name: every kernels/X.cu has a row in the op table of src/backend/cuda/mod.rs,
/// its launchers in src/backend/cuda/X.rs (which launches each of the file's kernels by name),
/// its parity checks in src/backend/cuda/selftest/X.rs and its bench entries in
/// src/bench/kernels/X.rs.
#[test]
fn every_kernel_file_has_its_launcher_selftest_and_bench_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |rel: String| {
        std::fs::read_to_string(root.join(&rel)).unwrap_or_else(|e| panic!("{rel} is missing: {e}"))
    };
    let table = read("src/backend/cuda/mod.rs".into());
    for (file, _) in FATBINS {
        assert!(
            table.contains(&format!("//! | `{file}` |")),
            "kernels/{file}.cu has no row in the op table of src/backend/cuda/mod.rs"
        );
        let launcher = read(format!("src/backend/cuda/{file}.rs"));
        read(format!("src/backend/cuda/selftest/{file}.rs"));
        read(format!("src/bench/kernels/{file}.rs"));
        for (kernel, _) in KERNEL_FILES.iter().filter(|(_, f)| f == file) {
            assert!(
                launcher.contains(&format!("\"{kernel}\"")),
                "{kernel} (kernels/{file}.cu) is not launched from src/backend/cuda/{file}.rs"
            );
        }
    }
}
