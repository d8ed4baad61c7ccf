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

/// Hands the free heap back to the system (glibc's `malloc_trim`), so
/// that resident memory is what is in use: a bench does this before it
/// measures one row's peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One measurement of the peak at a time: the peak is the whole process's,
/// so a reset by one measurement would cut another's short (tests run side
/// by side in one process). Held from [`reset_peak_resident`] to the last
/// [`resident_mib`] a measurement reads.
pub fn measuring_peak() -> std::sync::MutexGuard<'static, ()> {
    static PEAK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    PEAK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts a new peak of resident memory (Linux: `5` written to
/// `/proc/self/clear_refs` sets `VmHWM` to the resident size now).
/// Returns whether it could.
pub fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Resident memory now and its peak since [`reset_peak_resident`], in MiB
/// (Linux's `VmRSS` and `VmHWM`); `None` where the system does not say.
pub fn resident_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
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

    /// After a reset the peak is the resident size; 64 MB written raise
    /// it by about that much, and the peak stays when they are freed.
    #[test]
    fn the_peak_of_resident_memory_follows_what_is_written() {
        let _measuring = measuring_peak();
        release_free_memory();
        assert!(reset_peak_resident());
        let (now, peak) = resident_mib().expect("Linux says");
        assert!(peak >= now, "{now} {peak}");
        let mut buffer = vec![0u8; 64 << 20];
        for page in buffer.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&buffer);
        drop(buffer);
        let (_, raised) = resident_mib().expect("Linux says");
        assert!(raised - peak > 60.0, "peak {peak} → {raised} MiB");
    }
}
