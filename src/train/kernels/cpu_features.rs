//! What the CPU can do, asked at run time: one binary runs on any x86-64
//! and takes the wider instructions where they exist. Every kernel that
//! has an AVX2 + FMA twin asks here, so the rule is in one place.

/// Whether this CPU has the 256-bit vectors and fused multiply-add the
/// kernels' fast twins are compiled for (x86-64 with AVX2 and FMA; aarch64
/// always, where NEON and FMA are part of the base architecture).
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
