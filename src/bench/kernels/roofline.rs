//! Dense bf16 tensor-core peaks by card name: the FLOP roofline of the attention entries.

/// Dense (no 2:4 sparsity) bf16 peak in TFLOP/s for a CUDA device name, and its source.
/// More specific names come first ("H100 PCIe" before "H100").
pub fn peak_bf16_tflops(device_name: &str) -> Option<(f64, &'static str)> {
    const TABLE: &[(&str, f64, &str)] = &[
        (
            "H100 PCIe",
            756.0,
            "NVIDIA H100 datasheet, PCIe, dense BF16",
        ),
        ("H100 NVL", 835.0, "NVIDIA H100 datasheet, NVL, dense BF16"),
        ("H200 NVL", 835.0, "NVIDIA H200 datasheet, NVL, dense BF16"),
        ("GH200", 989.0, "NVIDIA GH200 datasheet, dense BF16"),
        (
            "H100",
            989.0,
            "NVIDIA H100 datasheet, SXM, dense BF16 (989.4)",
        ),
        (
            "H200",
            989.0,
            "NVIDIA H200 datasheet, SXM, dense BF16 (same SM as H100 SXM)",
        ),
        (
            "H800",
            989.0,
            "NVIDIA H800 SXM, dense BF16 (H100 SXM compute)",
        ),
        ("A100", 312.0, "NVIDIA A100 datasheet, dense BF16"),
        ("L40S", 362.0, "NVIDIA L40S datasheet, dense BF16"),
    ];
    TABLE
        .iter()
        .find(|(key, _, _)| device_name.contains(key))
        .map(|&(_, tf, src)| (tf, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_the_driver_reports_them_resolve() {
        assert_eq!(
            peak_bf16_tflops("NVIDIA H100 80GB HBM3 (sm_90)").unwrap().0,
            989.0
        );
        assert_eq!(peak_bf16_tflops("NVIDIA H100 PCIe").unwrap().0, 756.0);
        assert_eq!(peak_bf16_tflops("NVIDIA H200 (sm_90)").unwrap().0, 989.0);
        assert_eq!(peak_bf16_tflops("NVIDIA H200 NVL").unwrap().0, 835.0);
        assert!(peak_bf16_tflops("emulator").is_none());
    }
}
