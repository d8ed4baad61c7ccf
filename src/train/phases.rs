//! Where a training step's time goes, phase by phase (`loupe bench
//! training` prints it): the trainer and the methods mark the end of each
//! phase — batch assembly, augmentation, forward, losses, read-backs,
//! backward, gradients to parameters, optimizer, teacher update. Nothing is
//! recorded unless a bench started the clock on this thread (a thread-local
//! clock: runs on other threads are untouched, and a mark costs one check).
//! On the CPU (flex) Burn's operations run as they are called, so the wall
//! time between two marks is that phase's work; on wgpu it is only the time
//! to queue it, and the device's work lands in the next read-back.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Reading the step's images into tensors.
pub const BATCH: &str = "batch: images to tensors";
/// The random perturbation of the input (flip, affine, noise).
pub const AUGMENT: &str = "augmentation";
/// The student's forward pass.
pub const FORWARD: &str = "forward (student)";
/// The teacher's forward pass, without autodiff.
pub const TEACHER_FORWARD: &str = "forward (teacher)";
/// The loss terms from the logits.
pub const LOSSES: &str = "loss terms";
/// The loss values read back for the curves.
pub const READ_BACK: &str = "loss read-backs";
/// Autodiff's backward pass.
pub const BACKWARD: &str = "backward";
/// Gradients matched to the model's parameters.
pub const GRADIENTS: &str = "gradients to parameters";
/// The optimizer's update of the parameters.
pub const OPTIMIZER: &str = "optimizer (Adam)";
/// The teacher's exponential moving average.
pub const EMA: &str = "teacher EMA update";
/// The trainer's own work after the method's step.
pub const BOOKKEEPING: &str = "trainer bookkeeping";

struct Clock {
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
    /// Time inside each of Loupe's CPU kernels ([`kernel`]), part of the phases'.
    kernels: Vec<(&'static str, Duration)>,
}

/// Adds `spent` to `name`'s entry of `totals`, in the order first seen.
fn add(totals: &mut Vec<(&'static str, Duration)>, name: &'static str, spent: Duration) {
    match totals.iter_mut().find(|(n, _)| *n == name) {
        Some((_, total)) => *total += spent,
        None => totals.push((name, spent)),
    }
}

thread_local! {
    static CLOCK: RefCell<Option<Clock>> = const { RefCell::new(None) };
}

/// Starts recording on this thread: the next mark ends the first phase.
pub fn start() {
    CLOCK.with(|clock| {
        *clock.borrow_mut() = Some(Clock {
            last: Instant::now(),
            phases: Vec::new(),
            kernels: Vec::new(),
        });
    });
}

/// Ends the phase `name`: the time since the last mark (or the start) is
/// added to it. Does nothing when no clock runs on this thread.
pub fn mark(name: &'static str) {
    CLOCK.with(|clock| {
        if let Some(clock) = clock.borrow_mut().as_mut() {
            let now = Instant::now();
            let spent = now - clock.last;
            clock.last = now;
            add(&mut clock.phases, name, spent);
        }
    });
}

/// Runs `work`, one call of Loupe's CPU kernel `name`, adding its time to
/// that kernel's total when a clock runs on this thread (flex runs a step's
/// operations, forward and backward, on the thread that calls them).
pub fn kernel<R>(name: &'static str, work: impl FnOnce() -> R) -> R {
    let running = CLOCK.with(|clock| clock.borrow().is_some());
    if !running {
        return work();
    }
    let started = Instant::now();
    let result = work();
    let spent = started.elapsed();
    CLOCK.with(|clock| {
        if let Some(clock) = clock.borrow_mut().as_mut() {
            add(&mut clock.kernels, name, spent);
        }
    });
    result
}

/// Stops recording: each phase's time, in the order first marked.
pub fn finish() -> Vec<(&'static str, Duration)> {
    finish_with_kernels().0
}

/// Stops recording: each phase's time, and the time each of Loupe's CPU
/// kernels took within them ([`kernel`]), each in the order first seen.
#[allow(clippy::type_complexity)]
pub fn finish_with_kernels() -> (Vec<(&'static str, Duration)>, Vec<(&'static str, Duration)>) {
    CLOCK.with(|clock| {
        clock
            .borrow_mut()
            .take()
            .map(|c| (c.phases, c.kernels))
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_in_the_order_first_marked_and_only_while_started() {
        mark(BATCH);
        assert!(finish().is_empty(), "nothing without a started clock");
        start();
        std::thread::sleep(Duration::from_millis(20));
        mark(BATCH);
        mark(FORWARD);
        std::thread::sleep(Duration::from_millis(10));
        mark(BATCH);
        let phases = finish();
        let names: Vec<&str> = phases.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [BATCH, FORWARD]);
        assert!(phases[0].1 >= Duration::from_millis(30), "{phases:?}");
        assert!(phases[1].1 < Duration::from_millis(10), "{phases:?}");
        assert!(finish().is_empty(), "finish stops the clock");
    }

    #[test]
    fn kernel_time_is_kept_apart_and_only_while_started() {
        assert_eq!(kernel("conv", || 3), 3);
        start();
        kernel("conv", || std::thread::sleep(Duration::from_millis(15)));
        kernel("norm", || ());
        kernel("conv", || std::thread::sleep(Duration::from_millis(5)));
        mark(FORWARD);
        let (phases, kernels) = finish_with_kernels();
        let names: Vec<&str> = kernels.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["conv", "norm"]);
        assert!(kernels[0].1 >= Duration::from_millis(20), "{kernels:?}");
        // The kernels' time is inside the phase that holds it.
        assert!(phases[0].1 >= kernels[0].1, "{phases:?} {kernels:?}");
    }
}
