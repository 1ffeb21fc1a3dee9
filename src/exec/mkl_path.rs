//! [`mkl_path`]: what decides the code path MKL takes for a step's matrix products on this
//! machine, as the key's `mkl` part.
//!
//! `MKL_CBWR` alone does not: left at `AUTO` (or unset), MKL dispatches on the CPU it finds,
//! and two machines that both say `AUTO` may multiply matrices with other kernels (an Intel
//! Xeon and an AMD EPYC do). A pinned branch (`AVX2`, `COMPATIBLE`, ...) fixes the kernels for
//! every CPU that runs it, as MKL documents for Intel processors; devspec cannot show the same
//! for other vendors' CPUs, so the vendor stays in the key there too. Reading the branch MKL
//! actually picked would need a call into MKL itself (`mkl_cbwr_get_auto_branch`, unsafe FFI
//! the workspace forbids), so under `AUTO` the key names what MKL's dispatch reads instead: the
//! CPU's vendor, family and model and its instruction-set flags (a digest of the flag list,
//! since a virtual machine may hide features its model has). Two machines whose keys agree
//! therefore run the same kernels; machines that differ recompute, and `verify` compares them
//! statistically (docs/store.md).

/// The key's description of MKL's code path: the branch asked for with `MKL_CBWR` (`AUTO` when
/// unset or empty) and the CPU it runs on, from `/proc/cpuinfo`'s text.
pub fn mkl_path(cbwr: Option<&str>, cpuinfo: &str) -> String {
    let branch = cbwr.map(str::trim).filter(|b| !b.is_empty()).unwrap_or("AUTO").to_uppercase();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .take_while(|line| !line.trim().is_empty())
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let vendor = Some(field("vendor_id")).filter(|v| !v.is_empty()).unwrap_or("unknown CPU".into());
    // `AUTO` alone, and `AUTO` with MKL's options (`AUTO,STRICT`), leave the choice to MKL.
    if !branch.starts_with("AUTO") {
        return format!("{branch} on {vendor}");
    }
    let mut flags: Vec<&str> = Vec::new();
    let flag_line = field("flags");
    flags.extend(flag_line.split_whitespace());
    flags.sort_unstable();
    let digest = blake3::hash(flags.join(" ").as_bytes()).to_hex();
    format!(
        "{branch} on {vendor} family {} model {} flags {}",
        field("cpu family"),
        field("model"),
        &digest[..12]
    )
}

/// This machine's [`mkl_path`] under the current `MKL_CBWR`.
pub fn this_machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    mkl_path(std::env::var("MKL_CBWR").ok().as_deref(), &cpuinfo)
}

#[cfg(test)]
mod tests {
    use super::mkl_path;

    const XEON: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
                        model\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\n\
                        flags\t\t: fpu sse2 avx2 avx512f\n\nprocessor\t: 1\n\
                        vendor_id\t: GenuineIntel\n";
    const EPYC: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
                        model\t\t: 17\nflags\t\t: fpu sse2 avx2 avx512f\n";

    #[test]
    fn auto_names_the_cpu_that_decides_and_a_pinned_branch_its_vendor() {
        let xeon = mkl_path(None, XEON);
        assert!(xeon.starts_with("AUTO on GenuineIntel family 6 model 207 flags "), "{xeon}");
        assert_eq!(mkl_path(Some("auto"), XEON), xeon);
        assert_eq!(mkl_path(Some(" "), XEON), xeon);
        // The same flags in another order are the same CPU features.
        let reordered = XEON.replace("fpu sse2 avx2 avx512f", "avx512f fpu avx2 sse2");
        assert_eq!(mkl_path(None, &reordered), xeon);
        // Same model, a feature hidden (as a virtual machine may): another key.
        assert_ne!(mkl_path(None, &XEON.replace(" avx512f", "")), xeon);
        // Same flags, another vendor: another key.
        assert!(mkl_path(None, EPYC).starts_with("AUTO on AuthenticAMD family 25 model 17"));
        assert_ne!(mkl_path(None, EPYC)[24..], xeon[24..]);
        assert_eq!(mkl_path(Some("avx2"), XEON), "AVX2 on GenuineIntel");
        assert_eq!(mkl_path(Some("AVX2"), EPYC), "AVX2 on AuthenticAMD");
        assert!(mkl_path(Some("AUTO,STRICT"), XEON).starts_with("AUTO,STRICT on GenuineIntel"));
        assert!(mkl_path(None, "").starts_with("AUTO on unknown CPU family  model  flags "));
    }
}
