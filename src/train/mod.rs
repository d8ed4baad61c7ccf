//! Training with Burn, on the display's wgpu device or on the CPU (`flex`).
//! No GUI dependency: the window talks to it through channels.

pub mod data;
pub mod densenet;
pub mod device;
pub mod ema;
pub mod engine;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod runs;
pub mod schedule;
pub mod step;
