//! Static SASS instruction mix from `cuobjdump -sass`: per kernel and architecture, how many
//! instructions of each opcode the compiled code holds. Plain std only: build.rs includes this
//! file to extract the mix of the fatbins it builds.
use std::collections::BTreeMap;

/// The opcode histogram of one kernel for one architecture (e.g. "sm_90a").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelMix {
    pub kernel: String,
    pub arch: String,
    pub total: u32,
    pub ops: BTreeMap<String, u32>,
}

/// The key an instruction is counted under: the base opcode, with the access width for memory
/// instructions ("LDG.128" is a 16-byte vector load, "STS.16" a 2-byte store), the matrix count
/// for ldmatrix ("LDSM.x4", "LDSM.T.x4" transposed) and the shape dropped from HMMA/HGMMA.
pub fn opcode_key(op: &str) -> String {
    let mut parts = op.split('.');
    let base = parts.next().unwrap_or_default();
    let mods: Vec<&str> = parts.collect();
    match base {
        "LDG" | "STG" | "LDS" | "STS" | "LDL" | "STL" | "LD" | "ST" | "LDGSTS" | "ATOM"
        | "ATOMS" | "ATOMG" | "RED" => {
            let width = mods
                .iter()
                .rev()
                .find_map(|m| match *m {
                    "128" => Some("128"),
                    "64" => Some("64"),
                    "U16" | "S16" => Some("16"),
                    "U8" | "S8" => Some("8"),
                    _ => None,
                })
                .unwrap_or("32");
            format!("{base}.{width}")
        }
        "LDSM" => {
            let trans = if mods.iter().any(|m| m.starts_with("MT")) {
                ".T"
            } else {
                ""
            };
            let n = mods.last().copied().unwrap_or("1");
            format!("LDSM{trans}.x{n}")
        }
        _ => base.to_string(),
    }
}

/// The opcode of one disassembly line, if it is an instruction: `/*0040*/  @!P0 FFMA R1, ...;`.
fn instruction(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("/*")?;
    let (addr, rest) = rest.split_once("*/")?;
    if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut words = rest.split_whitespace();
    let mut op = words.next()?;
    if op.starts_with('@') {
        op = words.next()?;
    }
    let op = op.trim_end_matches(';');
    (!op.is_empty() && op.starts_with(|c: char| c.is_ascii_uppercase())).then_some(op)
}

/// Every kernel of a `cuobjdump -sass` listing (all architectures it holds).
pub fn parse(listing: &str) -> Vec<KernelMix> {
    let mut out: Vec<KernelMix> = Vec::new();
    let mut arch = String::new();
    for line in listing.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("arch = ") {
            arch = a.trim().to_string();
        } else if let Some(name) = t.strip_prefix("Function : ") {
            out.push(KernelMix {
                kernel: name.trim().to_string(),
                arch: arch.clone(),
                ..Default::default()
            });
        } else if let (Some(op), Some(k)) = (instruction(line), out.last_mut()) {
            k.total += 1;
            *k.ops.entry(opcode_key(op)).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_memory_widths_and_drop_shapes() {
        assert_eq!(opcode_key("LDG.E.128"), "LDG.128");
        assert_eq!(opcode_key("LDG.E"), "LDG.32");
        assert_eq!(opcode_key("STG.E.U16"), "STG.16");
        assert_eq!(opcode_key("LDS.64"), "LDS.64");
        assert_eq!(opcode_key("LDGSTS.E.BYPASS.128.ZFILL"), "LDGSTS.128");
        assert_eq!(opcode_key("LDSM.16.M88.4"), "LDSM.x4");
        assert_eq!(opcode_key("LDSM.16.MT88.2"), "LDSM.T.x2");
        assert_eq!(opcode_key("HMMA.16816.F32.BF16"), "HMMA");
        assert_eq!(opcode_key("BAR.SYNC.DEFER_BLOCKING"), "BAR");
        assert_eq!(opcode_key("SHFL.BFLY"), "SHFL");
        assert_eq!(opcode_key("FFMA"), "FFMA");
    }

    #[test]
    fn a_listing_splits_into_kernels_per_architecture() {
        let listing = "\
Fatbin elf code:
================
arch = sm_80
	code for sm_80
		Function : k1
	.headerflags	@\"EF_CUDA_SM80\"
        /*0000*/                   IMAD.MOV.U32 R1, RZ, RZ, c[0x0][0x28] ;  /* 0x00000a00ff017624 */
                                                                            /* 0x000fe400078e00ff */
        /*0010*/              @!P0 LDG.E.128 R4, desc[UR4][R2.64] ;         /* 0x0000000402047981 */
        /*0020*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;    /* 0x0000000c0804723c */
        /*0030*/                   EXIT ;                                   /* 0x000000000000794d */
arch = sm_90a
	code for sm_90a
		Function : k1
        /*0000*/                   FFMA R1, R2, R3, R4 ;                    /* 0x0000000402047981 */
        /*0010*/                   FFMA R1, R2, R3, R4 ;                    /* 0x0000000402047981 */
";
        let mix = parse(listing);
        assert_eq!(mix.len(), 2);
        assert_eq!(
            (mix[0].kernel.as_str(), mix[0].arch.as_str()),
            ("k1", "sm_80")
        );
        assert_eq!(mix[0].total, 4);
        assert_eq!(mix[0].ops["LDG.128"], 1);
        assert_eq!(mix[0].ops["HMMA"], 1);
        assert_eq!(mix[1].arch, "sm_90a");
        assert_eq!(mix[1].ops["FFMA"], 2);
        assert_eq!(mix[1].total, 2);
    }
}
