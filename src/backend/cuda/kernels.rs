//! The kernels compiled by build.rs: fatbins (empty without nvcc), kernel → file map, ptxas report.
include!(concat!(env!("OUT_DIR"), "/kernels.rs"));

/// The file stem (fatbin) that defines `kernel`.
pub fn file_of(kernel: &str) -> Option<&'static str> {
    KERNEL_FILES
        .iter()
        .find(|(k, _)| *k == kernel)
        .map(|(_, f)| *f)
}

/// The fatbin bytes of one file stem.
pub fn fatbin(file: &str) -> Option<&'static [u8]> {
    FATBINS.iter().find(|(f, _)| *f == file).map(|(_, b)| *b)
}
