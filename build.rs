//! Build script: kernels/*.cu → one fatbin per file (nvcc), embedded via `$OUT_DIR/kernels.rs`,
//! with the `ptxas -v` report; and the same sources compiled for the host with g++ against
//! kernels/emu/emu.h into `librlvr_emu.a` (the execution-model emulator, `--device emu`), each
//! twice: plain, and traced for the efficiency counters (every load and store calls a hook).
//!
//! The static SASS instruction mix of every kernel (`cuobjdump -sass` on the fatbins, when the
//! tool is next to nvcc, in $CUDA_HOME/bin, on PATH or named by CUOBJDUMP) goes to `$OUT_DIR/sass.rs`.
//!
//! Environment: NVCC (path to nvcc), CUDA_HOME, REQUIRE_NVCC=1 (missing nvcc is an error),
//! REQUIRE_NO_SPILLS=1 (a register spill is an error), NVCC_EXTRA_FLAGS (appended to nvcc),
//! CXX (host compiler for the emulator, default g++), RLVR_NO_EMU=1 (skip the emulator),
//! CUOBJDUMP (path to cuobjdump).
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

#[path = "src/bench/efficiency/sass_mix.rs"]
#[allow(dead_code)]
mod sass_mix;

/// Architectures whose instruction mix is kept (A100 and H100 code).
const SASS_ARCHS: &[&str] = &["sm_80", "sm_90a"];

const GENCODE: &[&str] = &[
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90a,code=sm_90a",
    "-gencode=arch=compute_90,code=compute_90",
];

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/bench/efficiency/sass_mix.rs");
    for v in [
        "NVCC",
        "CUDA_HOME",
        "REQUIRE_NVCC",
        "REQUIRE_NO_SPILLS",
        "NVCC_EXTRA_FLAGS",
        "CXX",
        "RLVR_NO_EMU",
        "CUOBJDUMP",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo::rustc-check-cfg=cfg(rlvr_emu)");

    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let kdir = root.join("kernels");
    let cu_files = list(&kdir, "cu");
    let planted = list(&kdir.join("emu").join("planted"), "cu");
    // Every .cu file below kernels/ counts for the rerun check, including nested ones.
    for f in cu_files.iter().chain(&planted) {
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let nvcc = find_nvcc(&root);
    let require_nvcc = env::var("REQUIRE_NVCC").is_ok_and(|v| v == "1");
    let require_no_spills = env::var("REQUIRE_NO_SPILLS").is_ok_and(|v| v == "1");
    if nvcc.is_none() {
        if require_nvcc {
            panic!("REQUIRE_NVCC=1 but no nvcc found ($NVCC, $CUDA_HOME/bin, .venv-cuda, PATH); run scripts/setup-cuda.sh");
        }
        println!("cargo:warning=nvcc not found: CUDA kernels are not compiled (run scripts/setup-cuda.sh and set NVCC)");
    }
    let include = cuda_include_dir(nvcc.as_deref(), &root);
    let cxx = env::var("CXX").unwrap_or_else(|_| "g++".into());
    let build_emu =
        include.is_some() && env::var("RLVR_NO_EMU").map_or(true, |v| v != "1") && tool_runs(&cxx);
    if !build_emu {
        println!("cargo:warning=CUDA headers or {cxx} not found: the kernel emulator (--device emu) is not built");
    }

    // All compile jobs (nvcc per .cu, g++ per emulated unit) go through one small thread pool.
    let mut jobs: Vec<Job> = Vec::new();
    if let Some(nvcc) = &nvcc {
        for f in &cu_files {
            jobs.push(Job::Nvcc {
                nvcc: nvcc.clone(),
                src: f.clone(),
                out: out.join(format!("{}.fatbin", stem(f))),
            });
        }
    }
    let mut emu_objs = Vec::new();
    if build_emu {
        let emu_dir = out.join("emu");
        fs::create_dir_all(&emu_dir).expect("create emu dir");
        let mut units = Vec::new();
        let mut traced_units = Vec::new();
        for f in cu_files.iter().chain(&planted) {
            for traced in [false, true] {
                let unit = format!("unit_{}{}", stem(f), if traced { "_traced" } else { "" });
                let cpp = emu_dir.join(format!("{unit}.cpp"));
                let text = format!(
                    "#include \"emu/emu.h\"\nnamespace {{\n#include \"{}\"\n}}\nextern \"C\" void rlvr_emu_{unit}() {{}}\n",
                    f.display()
                );
                write_if_changed(&cpp, &text);
                if traced {
                    traced_units.push(cpp.clone());
                }
                units.push(unit);
                emu_objs.push(cpp);
            }
        }
        let mut link =
            String::from("// generated: pulls every kernel unit out of the static library\n");
        for u in &units {
            let _ = writeln!(link, "extern \"C\" void rlvr_emu_{u}();");
        }
        link.push_str("extern \"C\" void rlvr_emu_link_units() {\n");
        for u in &units {
            let _ = writeln!(link, "    rlvr_emu_{u}();");
        }
        link.push_str("}\n");
        let link_cpp = emu_dir.join("units.cpp");
        write_if_changed(&link_cpp, &link);
        emu_objs.push(link_cpp);
        emu_objs.push(kdir.join("emu").join("emu.cpp"));
        emu_objs.push(kdir.join("emu").join("counters.cpp"));
        emu_objs.push(kdir.join("emu").join("hopper.cpp"));
        for src in &emu_objs {
            jobs.push(Job::Cxx {
                cxx: cxx.clone(),
                src: src.clone(),
                out: emu_dir.join(format!("{}.o", stem(src))),
                kdir: kdir.clone(),
                include: include.clone().expect("include dir"),
                traced: traced_units.contains(src),
            });
        }
    }

    let t0 = std::time::Instant::now();
    let results = run_jobs(jobs);
    let mut failures = Vec::new();
    let mut report =
        String::from("file\tkernel\tarch\tregisters\tspill_stores\tspill_loads\tstack\tsmem\n");
    let mut spills = Vec::new();
    for r in &results {
        match r {
            JobResult::Failed(msg) => failures.push(msg.clone()),
            JobResult::Nvcc { file, log } => {
                for row in parse_ptxas(log) {
                    if row.spill_stores > 0 || row.spill_loads > 0 {
                        spills.push(format!(
                            "{file}:{} ({}) spills {}B st / {}B ld",
                            row.kernel, row.arch, row.spill_stores, row.spill_loads
                        ));
                    }
                    let _ = writeln!(
                        report,
                        "{file}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        row.kernel,
                        row.arch,
                        row.registers,
                        row.spill_stores,
                        row.spill_loads,
                        row.stack,
                        row.smem
                    );
                }
            }
            JobResult::Cxx => {}
        }
    }
    if !failures.is_empty() {
        panic!("kernel compilation failed:\n{}", failures.join("\n\n"));
    }
    for s in &spills {
        println!("cargo:warning=register spill: {s}");
    }
    if require_no_spills && !spills.is_empty() {
        panic!(
            "REQUIRE_NO_SPILLS=1 and kernels spill registers:\n{}",
            spills.join("\n")
        );
    }

    if build_emu {
        let lib = out.join("librlvr_emu.a");
        let _ = fs::remove_file(&lib);
        let objs: Vec<PathBuf> = emu_objs
            .iter()
            .map(|s| out.join("emu").join(format!("{}.o", stem(s))))
            .collect();
        let status = Command::new("ar")
            .arg("crs")
            .arg(&lib)
            .args(&objs)
            .status()
            .expect("run ar");
        assert!(status.success(), "ar failed building {}", lib.display());
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rustc-link-lib=static=rlvr_emu");
        println!("cargo:rustc-link-lib=dylib=stdc++");
        println!("cargo:rustc-cfg=rlvr_emu");
    }

    write_sass_mix(&out, nvcc.as_deref(), &cu_files);

    // $OUT_DIR/kernels.rs: the fatbins, the kernel → file map and the ptxas report.
    let mut rs = String::from("// generated by build.rs\n");
    let _ = writeln!(rs, "pub const KERNELS_COMPILED: bool = {};", nvcc.is_some());
    let _ = writeln!(rs, "pub const EMU_BUILT: bool = {build_emu};");
    rs.push_str("/// (file stem, fatbin bytes); empty bytes when nvcc was not available.\n");
    rs.push_str("pub const FATBINS: &[(&str, &[u8])] = &[\n");
    for f in &cu_files {
        let s = stem(f);
        if nvcc.is_some() {
            let _ = writeln!(
                rs,
                "    ({s:?}, include_bytes!({:?})),",
                out.join(format!("{s}.fatbin"))
            );
        } else {
            let _ = writeln!(rs, "    ({s:?}, &[]),");
        }
    }
    rs.push_str("];\n/// (kernel name, file stem) for every RLVR_KERNEL in kernels/*.cu.\n");
    rs.push_str("pub const KERNEL_FILES: &[(&str, &str)] = &[\n");
    for f in &cu_files {
        let text = fs::read_to_string(f).expect("read kernel source");
        for k in kernel_names(&text) {
            let _ = writeln!(rs, "    ({k:?}, {:?}),", stem(f));
        }
    }
    rs.push_str("];\n");
    let _ = writeln!(rs, "pub const PTXAS_REPORT: &str = {report:?};");
    let _ = writeln!(
        rs,
        "pub const KERNEL_BUILD_SECONDS: f64 = {:.2};",
        t0.elapsed().as_secs_f64()
    );
    write_if_changed(&out.join("kernels.rs"), &rs);
}

fn find_cuobjdump(nvcc: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = env::var_os("CUOBJDUMP").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(dir) = nvcc.and_then(|n| n.parent()) {
        cands.push(dir.join("cuobjdump"));
    }
    if let Ok(h) = env::var("CUDA_HOME") {
        cands.push(Path::new(&h).join("bin").join("cuobjdump"));
    }
    if let Ok(path) = env::var("PATH") {
        cands.extend(env::split_paths(&path).map(|d| d.join("cuobjdump")));
    }
    cands.into_iter().find(|c| c.is_file())
}

/// `$OUT_DIR/sass.rs`: the opcode histogram of every kernel for SASS_ARCHS, or an empty table
/// (and a warning) without nvcc or cuobjdump. cuobjdump runs once per fatbin, in parallel.
fn write_sass_mix(out: &Path, nvcc: Option<&Path>, cu_files: &[PathBuf]) {
    let tool = nvcc.and(find_cuobjdump(nvcc));
    let mut rows = Vec::new();
    let mut failure = None;
    if let Some(tool) = &tool {
        let fatbins: Vec<PathBuf> = cu_files
            .iter()
            .map(|f| out.join(format!("{}.fatbin", stem(f))))
            .collect();
        let listings = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(fatbins));
        let workers: Vec<_> = (0..available_workers())
            .map(|_| {
                let (q, l, tool) = (Arc::clone(&queue), Arc::clone(&listings), tool.clone());
                std::thread::spawn(move || loop {
                    let Some(f) = q.lock().expect("queue").pop() else {
                        break;
                    };
                    let r = sass_listing(&tool, &f);
                    l.lock().expect("listings").push(r);
                })
            })
            .collect();
        for w in workers {
            w.join().expect("cuobjdump worker panicked");
        }
        for r in listings.lock().expect("listings").drain(..) {
            match r {
                Ok(text) => rows.extend(
                    sass_mix::parse(&text)
                        .into_iter()
                        .filter(|k| SASS_ARCHS.contains(&k.arch.as_str())),
                ),
                Err(e) => failure = Some(e),
            }
        }
    } else if nvcc.is_some() {
        println!("cargo:warning=cuobjdump not found: no SASS instruction mix (scripts/setup-cuda.sh installs it next to nvcc)");
    }
    if let Some(e) = &failure {
        println!("cargo:warning={e}");
        rows.clear();
    }
    rows.sort_by(|a, b| (&a.kernel, &a.arch).cmp(&(&b.kernel, &b.arch)));
    let mut rs = String::from("// generated by build.rs from cuobjdump -sass\n");
    let _ = writeln!(
        rs,
        "pub const SASS_TOOL: Option<&str> = {:?};",
        tool.filter(|_| failure.is_none())
            .map(|t| t.display().to_string())
    );
    rs.push_str("pub const SASS_MIX: &[super::StaticMix] = &[\n");
    for k in &rows {
        let _ = write!(
            rs,
            "    super::StaticMix {{ kernel: {:?}, arch: {:?}, total: {}, ops: &[",
            k.kernel, k.arch, k.total
        );
        for (op, n) in &k.ops {
            let _ = write!(rs, "({op:?}, {n}), ");
        }
        rs.push_str("] },\n");
    }
    rs.push_str("];\n");
    write_if_changed(&out.join("sass.rs"), &rs);
}

fn sass_listing(tool: &Path, fatbin: &Path) -> Result<String, String> {
    // cuobjdump may call nvdisasm, installed in the same directory.
    let mut path = tool
        .parent()
        .map(PathBuf::from)
        .into_iter()
        .collect::<Vec<_>>();
    if let Some(p) = env::var_os("PATH") {
        path.extend(env::split_paths(&p));
    }
    let mut cmd = Command::new(tool);
    cmd.arg("-sass").arg(fatbin);
    if let Ok(p) = env::join_paths(path) {
        cmd.env("PATH", p);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => Err(format!(
            "{} -sass {} failed: {}",
            tool.display(),
            fatbin.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("running {}: {e}", tool.display())),
    }
}

fn available_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .clamp(1, 8)
}

fn list(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes through a new file and a rename, so an OUT_DIR whose files are hard links into another
/// build tree (a `cp -al` copy of target/) never changes that tree's files.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, text)
            .and_then(|()| fs::rename(&tmp, path))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

fn tool_runs(exe: &str) -> bool {
    Command::new(exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn find_nvcc(root: &Path) -> Option<PathBuf> {
    // An explicit $NVCC is the only candidate (NVCC=/nonexistent builds the no-nvcc variant).
    if let Some(p) = env::var_os("NVCC").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if tool_runs(&p.to_string_lossy()) {
            return Some(p);
        }
        println!("cargo:warning=NVCC={} does not run", p.display());
        return None;
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Ok(h) = env::var("CUDA_HOME") {
        cands.push(Path::new(&h).join("bin").join("nvcc"));
    }
    if let Ok(rd) = fs::read_dir(root.join(".venv-cuda").join("lib")) {
        for e in rd.flatten() {
            cands.push(e.path().join("site-packages/nvidia/cu13/bin/nvcc"));
        }
    }
    if let Ok(path) = env::var("PATH") {
        cands.extend(env::split_paths(&path).map(|d| d.join("nvcc")));
    }
    cands
        .into_iter()
        .find(|c| c.is_file() && tool_runs(&c.to_string_lossy()))
}

/// Directory holding cuda_bf16.h: next to nvcc (PyPI layout and toolkit layout), or $CUDA_HOME.
fn cuda_include_dir(nvcc: Option<&Path>, root: &Path) -> Option<PathBuf> {
    let mut cands = Vec::new();
    if let Some(n) = nvcc.and_then(|n| n.parent()).and_then(|b| b.parent()) {
        cands.push(n.join("include"));
    }
    if let Ok(h) = env::var("CUDA_HOME") {
        cands.push(Path::new(&h).join("include"));
    }
    if let Ok(rd) = fs::read_dir(root.join(".venv-cuda").join("lib")) {
        for e in rd.flatten() {
            cands.push(e.path().join("site-packages/nvidia/cu13/include"));
        }
    }
    cands.push("/usr/local/cuda/include".into());
    cands.into_iter().find(|c| c.join("cuda_bf16.h").is_file())
}

/// Kernel names declared with RLVR_KERNEL(name, ...) / RLVR_KERNEL_BOUNDED(name, ...).
fn kernel_names(src: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in src.lines() {
        let t = line.trim_start();
        for pre in ["RLVR_KERNEL_BOUNDED(", "RLVR_KERNEL("] {
            if let Some(rest) = t.strip_prefix(pre) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(name);
                }
                break;
            }
        }
    }
    names
}

enum Job {
    Nvcc {
        nvcc: PathBuf,
        src: PathBuf,
        out: PathBuf,
    },
    Cxx {
        cxx: String,
        src: PathBuf,
        out: PathBuf,
        kdir: PathBuf,
        include: PathBuf,
        /// Compile with access tracing (the emulator's counters; kernels/emu/counters.h).
        traced: bool,
    },
}

/// g++ flags of a traced unit: every load and store becomes a call of a `__tsan_{read,write}N`
/// hook that kernels/emu/counters.cpp defines (no sanitizer runtime is linked; function entry and
/// exit are not instrumented). Without vectorisation each source-level access stays one access,
/// as nvcc issues it.
const TRACED_FLAGS: &[&str] = &[
    "-DRLVR_EMU_TRACED",
    "-fsanitize=thread",
    "--param=tsan-instrument-func-entry-exit=0",
    "-fno-tree-vectorize",
    "-fno-tree-slp-vectorize",
];

enum JobResult {
    Nvcc { file: String, log: String },
    Cxx,
    Failed(String),
}

fn run_job(job: Job) -> JobResult {
    // The compilers write their output in place: remove it first (see write_if_changed).
    let _ = fs::remove_file(match &job {
        Job::Nvcc { out, .. } | Job::Cxx { out, .. } => out,
    });
    match job {
        Job::Nvcc { nvcc, src, out } => {
            let mut cmd = Command::new(&nvcc);
            cmd.args(["-fatbin", "-O3", "-std=c++17", "-Xptxas=-v", "-lineinfo"])
                .args(GENCODE)
                .arg("-I")
                .arg(src.parent().expect("kernel dir"))
                .arg(&src)
                .arg("-o")
                .arg(&out);
            if let Ok(extra) = env::var("NVCC_EXTRA_FLAGS") {
                cmd.args(extra.split_whitespace());
            }
            match cmd.output() {
                Ok(o) if o.status.success() => JobResult::Nvcc {
                    file: stem(&src),
                    log: String::from_utf8_lossy(&o.stderr).into_owned()
                        + &String::from_utf8_lossy(&o.stdout),
                },
                Ok(o) => JobResult::Failed(format!(
                    "nvcc {} failed:\n{}{}",
                    src.display(),
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => JobResult::Failed(format!("running {}: {e}", nvcc.display())),
            }
        }
        Job::Cxx {
            cxx,
            src,
            out,
            kdir,
            include,
            traced,
        } => {
            let o = Command::new(&cxx)
                .args(if traced { TRACED_FLAGS } else { &[] })
                .args([
                    "-std=c++20",
                    "-O2",
                    "-g",
                    "-fPIC",
                    "-DRLVR_EMU",
                    "-Wall",
                    "-Wno-unknown-pragmas",
                ])
                // Shared memory is plain statics: keep GCC from assuming an opaque barrier
                // call leaves them untouched.
                .arg("-fno-ipa-reference")
                .arg("-I")
                .arg(&kdir)
                .arg("-I")
                .arg(&include)
                .arg("-c")
                .arg(&src)
                .arg("-o")
                .arg(&out)
                .output();
            match o {
                Ok(o) if o.status.success() => {
                    let warn = String::from_utf8_lossy(&o.stderr);
                    for l in warn.lines().filter(|l| l.contains("warning:")) {
                        println!("cargo:warning=emu: {l}");
                    }
                    JobResult::Cxx
                }
                Ok(o) => JobResult::Failed(format!(
                    "{cxx} (emulator) {} failed:\n{}",
                    src.display(),
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => JobResult::Failed(format!("running {cxx}: {e}")),
            }
        }
    }
}

fn run_jobs(jobs: Vec<Job>) -> Vec<JobResult> {
    let n = jobs.len();
    let queue = Arc::new(Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>()));
    let results = Arc::new(Mutex::new(
        (0..n).map(|_| None).collect::<Vec<Option<JobResult>>>(),
    ));
    let workers = available_workers();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (q, r) = (Arc::clone(&queue), Arc::clone(&results));
            std::thread::spawn(move || loop {
                let Some((i, job)) = q.lock().expect("queue").pop() else {
                    break;
                };
                let res = run_job(job);
                r.lock().expect("results")[i] = Some(res);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("compile worker panicked");
    }
    let results = Arc::try_unwrap(results)
        .ok()
        .expect("results still shared")
        .into_inner()
        .expect("results");
    results
        .into_iter()
        .map(|r| r.expect("job finished"))
        .collect()
}

struct PtxasRow {
    kernel: String,
    arch: String,
    registers: u32,
    spill_stores: u32,
    spill_loads: u32,
    stack: u32,
    smem: u32,
}

/// Parses `ptxas -v`: "Compiling entry function 'k' for 'sm_90a'", then the stack/spill line and
/// "Used N registers, ..., M bytes smem".
fn parse_ptxas(log: &str) -> Vec<PtxasRow> {
    let mut rows: Vec<PtxasRow> = Vec::new();
    let num_before = |line: &str, unit: &str| -> u32 {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .find(|w| w[1].starts_with(unit))
            .and_then(|w| w[0].parse().ok())
            .unwrap_or(0)
    };
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let mut parts = rest.split('\'');
            let kernel = parts.next().unwrap_or_default().to_string();
            let arch = parts.nth(1).unwrap_or_default().to_string();
            rows.push(PtxasRow {
                kernel,
                arch,
                registers: 0,
                spill_stores: 0,
                spill_loads: 0,
                stack: 0,
                smem: 0,
            });
        } else if let Some(row) = rows.last_mut() {
            if line.contains("bytes stack frame") {
                row.stack = num_before(line, "bytes");
                let w: Vec<&str> = line.split(',').collect();
                row.spill_stores = w.get(1).map_or(0, |s| num_before(s, "bytes"));
                row.spill_loads = w.get(2).map_or(0, |s| num_before(s, "bytes"));
            } else if line.contains("Used ") && line.contains("registers") {
                row.registers = num_before(line, "registers");
                row.smem = line
                    .split(',')
                    .find(|s| s.contains("smem"))
                    .map_or(0, |s| num_before(s, "bytes"));
            }
        }
    }
    rows
}
