//! How the C allocator keeps memory that training frees, so the next step
//! reuses it instead of asking the kernel for fresh pages.
//!
//! A training step allocates its activations and gradients — on the CPU a
//! hundred or more megabytes in buffers of 0.1–8 MB — and frees them after
//! the backward pass. With glibc's defaults such buffers are mapped fresh
//! (above the dynamic mmap threshold) or handed back by trimming the heap,
//! so every step page-faults and zero-fills them again: `loupe bench
//! training` put that at about a fifth of a supervised CPU step (290 ms
//! against 230 ms with the memory kept, one thread). Here buffers up to
//! [`MMAP_THRESHOLD_BYTES`] come from the heap, and up to
//! [`TRIM_THRESHOLD_BYTES`] of free heap stays with the process; larger
//! allocations (whole volumes) are still mapped and returned when freed.
//!
//! glibc only (other C libraries and systems keep their own policy);
//! `LOUPE_ALLOCATOR=default` leaves glibc's defaults, for comparison.

/// Allocations up to this size come from the heap (glibc's largest
/// allowed threshold on 64-bit systems: 32 MB).
pub const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;

/// Free memory at the top of the heap kept before it is handed back.
pub const TRIM_THRESHOLD_BYTES: i32 = 512 << 20;

/// The environment variable that, set to `default`, leaves the C
/// allocator's defaults alone.
pub const ALLOCATOR_VARIABLE: &str = "LOUPE_ALLOCATOR";

/// Applies the policy above, once, at start-up (before the threads that
/// allocate). Returns whether it was applied.
pub fn keep_freed_memory() -> bool {
    if std::env::var(ALLOCATOR_VARIABLE).is_ok_and(|v| v == "default") {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // SAFETY: mallopt only sets allocator parameters; it is safe to call
    // at any time, and the values are within glibc's documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Minor page faults of this thread so far (other tests run beside it).
    fn minor_faults() -> i64 {
        // SAFETY: getrusage writes into the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
            0
        );
        usage.ru_minflt
    }

    /// 32 MB in 2 MB buffers, written, freed, then allocated and written
    /// again, as a step's activations are: the second round reuses the
    /// first's memory, so it faults in (almost) no fresh pages — with
    /// glibc's defaults each round faults in all 8 192 of them.
    #[test]
    fn freed_training_buffers_are_reused_without_fresh_pages() {
        assert!(keep_freed_memory());
        let round = || {
            let buffers: Vec<Vec<u8>> = (0..16)
                .map(|k| {
                    let mut buffer = vec![0u8; 2 << 20];
                    // Touch every page, as a kernel writing its output does.
                    for page in buffer.chunks_mut(4096) {
                        page[0] = k as u8 + 1;
                    }
                    buffer
                })
                .collect();
            std::hint::black_box(&buffers);
        };
        round();
        let before = minor_faults();
        round();
        let faults = minor_faults() - before;
        assert!(faults < 1_000, "{faults} fresh pages in the second round");
    }
}
