//! How many CPU threads a run may use. Burn's CPU backend (`flex`) and its
//! matrix kernels parallelise with rayon; a run is given a pool of its own,
//! so the window keeps a core for drawing while a CPU run trains, and the
//! parallel runs of a benchmark share the cores instead of each taking all.

use super::error::TrainError;

/// Most threads a run may ask for.
pub const MAX_THREADS: usize = 256;

/// The machine's cores (1 where that cannot be told).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The default: every core for the command line; all but one while the
/// window is open, so drawing never waits for training.
pub fn default_threads(window_open: bool) -> usize {
    if window_open {
        cores().saturating_sub(1).max(1)
    } else {
        cores()
    }
}

/// Runs `work` with the CPU kernels on a pool of `threads` threads.
pub fn with_threads<R: Send>(
    threads: usize,
    work: impl FnOnce() -> R + Send,
) -> Result<R, TrainError> {
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(TrainError::Data(format!(
            "threads {threads} must be between 1 and {MAX_THREADS}"
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("loupe-cpu-{i}"))
        .build()
        .map_err(|e| TrainError::Data(format!("cannot start {threads} training threads: {e}")))?;
    Ok(pool.install(work))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_exactly_the_threads_asked_for() {
        assert_eq!(with_threads(3, rayon::current_num_threads).unwrap(), 3);
        assert_eq!(with_threads(1, rayon::current_num_threads).unwrap(), 1);
        assert!(
            with_threads(0, || ())
                .unwrap_err()
                .to_string()
                .contains("between 1 and 256")
        );
        assert_eq!(default_threads(true), cores().saturating_sub(1).max(1));
    }
}
