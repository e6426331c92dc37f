//! The layer order of `rlvr::LAYERS` holds in the source: no file of `src/` names a module of a
//! higher layer, or of another module of its own layer, through a `crate::` or `super::` path
//! (`use` trees included, comments and string literals ignored).
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layer index and the owning layer path of module `path` (the longest path of `LAYERS`
/// that contains it).
fn layer_of(path: &[String]) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for (i, layer) in rlvr::LAYERS.iter().enumerate() {
        for &owner in *layer {
            let parts: Vec<&str> = owner.split("::").collect();
            let contains = parts.len() <= path.len() && parts.iter().zip(path).all(|(a, b)| a == b);
            if contains && best.is_none_or(|(_, o)| o.split("::").count() < parts.len()) {
                best = Some((i, owner));
            }
        }
    }
    best
}

/// Source text with comments, string and character literals blanked out (lengths kept).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&b, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&'"') {
                j += 1;
                while j < b.len() {
                    if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
                continue;
            }
            if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[s..i].iter().collect()));
            continue;
        }
        if c == ':' && b.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
            continue;
        }
        match c {
            '{' => out.push(Tok::Open),
            '}' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            c if c.is_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// Every full path of the path or `use` tree that starts at `toks[i]` (after its root),
/// appended to `out` with `prefix` in front.
fn expand(toks: &[Tok], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Path) {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            Some(Tok::Open) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Close) => return i + 1,
                        Some(Tok::Comma) => i += 1,
                        None => return i,
                        _ => i = expand(toks, i, path.clone(), out),
                    }
                }
            }
            _ => {
                // a glob (`*`) or the end of the path: the path so far
                out.push(path);
                return i;
            }
        }
    }
}

/// The module path of a source file: src/a/b.rs and src/a/b/mod.rs are a::b.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .skip(1)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The crate paths (absolute module paths) that `code` of module `module` names. `super` is
/// resolved from the file's module; inside inline modules (`mod tests { … }`) it starts one
/// level deeper, which only matters for `super::super` chains that leave the file.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => {
                let is_mod = i >= 2
                    && toks[i - 2] == Tok::Ident("mod".into())
                    && matches!(toks[i - 1], Tok::Ident(_));
                depth += 1;
                if is_mod {
                    inline_mods.push(depth);
                }
            }
            Tok::Close => {
                if inline_mods.last() == Some(&depth) {
                    inline_mods.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(s) if s == "crate" || s == "super" => {
                let after_path = i > 0 && toks[i - 1] == Tok::Path;
                if !after_path && toks.get(i + 1) == Some(&Tok::Path) {
                    let mut base: Vec<String> = module.to_vec();
                    let mut j = i;
                    if s == "crate" {
                        base.clear();
                        j += 2;
                    } else {
                        let mut ups = 0usize;
                        while toks.get(j) == Some(&Tok::Ident("super".into()))
                            && toks.get(j + 1) == Some(&Tok::Path)
                        {
                            ups += 1;
                            j += 2;
                        }
                        let ups = ups.saturating_sub(inline_mods.len());
                        base.truncate(base.len().saturating_sub(ups));
                    }
                    let mut found = Vec::new();
                    let end = expand(&toks, j, base, &mut found);
                    out.extend(found);
                    i = end.max(i + 1);
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// "file: module → used (layer)" for every use of a higher layer or a peer in `src/`.
fn violations() -> (Vec<String>, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    let mut checked = 0;
    for f in files {
        let rel = f.strip_prefix(root).expect("under the crate");
        if rel == Path::new("src/main.rs") || rel == Path::new("src/lib.rs") {
            continue;
        }
        let module = module_of(rel);
        let (layer, owner) = layer_of(&module).unwrap_or_else(|| {
            panic!(
                "{}: module {} is in no layer of rlvr::LAYERS",
                rel.display(),
                module.join("::")
            )
        });
        let code = code_only(&fs::read_to_string(&f).expect("read source"));
        checked += 1;
        let mut seen = BTreeMap::new();
        for path in named_paths(&code, &module) {
            let Some((used_layer, used_owner)) = layer_of(&path) else {
                continue;
            };
            let upward = used_layer > layer;
            let peer = used_layer == layer && used_owner != owner;
            if upward || peer {
                seen.entry(path.join("::")).or_insert(used_owner);
            }
        }
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        for (path, used_owner) in seen {
            found.push(format!(
                "{rel_s} (layer `{owner}`) uses {path} (layer `{used_owner}`)"
            ));
        }
    }
    (found, checked)
}

#[test]
fn no_module_uses_a_higher_layer_or_a_peer() {
    let (found, checked) = violations();
    assert!(checked > 100, "only {checked} source files found");
    assert!(
        found.is_empty(),
        "layering violations (order: rlvr::LAYERS in src/lib.rs):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_top_level_module_has_one_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(root.join("lib.rs")).expect("read src/lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(modules.len() > 10, "{modules:?}");
    for m in modules {
        let owners: Vec<&str> = rlvr::LAYERS
            .iter()
            .flat_map(|l| l.iter().copied())
            .filter(|o| *o == m)
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "module {m} must appear once in rlvr::LAYERS"
        );
    }
}

#[test]
fn the_checker_sees_use_trees_super_chains_and_skips_comments_and_strings() {
    let module: Vec<String> = ["backend", "cuda", "norm"].map(String::from).to_vec();
    let code = code_only(
        "use crate::{model::Batch, rl::{loss, update::X}};\n\
         use super::super::cpu::norm;\n\
         // use crate::cli::Args;\n\
         let s = \"crate::demo::run\"; let c = '\"'; let t = crate::eval::passk(1);\n\
         mod tests { use super::*; use super::super::model::DeviceModel; }",
    );
    let paths: Vec<String> = named_paths(&code, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "model::Batch",
            "rl::loss",
            "rl::update::X",
            "backend::cpu::norm",
            "eval::passk",
            "backend::cuda::norm",
            "backend::cuda::model::DeviceModel",
        ]
    );
    let layer = |p: &str| layer_of(&p.split("::").map(String::from).collect::<Vec<_>>());
    assert_eq!(
        layer("backend::cuda::model::forward").map(|l| l.1),
        Some("backend::cuda::model")
    );
    assert_eq!(layer("backend::cuda::gemm").map(|l| l.1), Some("backend"));
    assert!(layer("backend::cuda::model").unwrap().0 > layer("model").unwrap().0);
}
