//! Training with Burn, on the display's wgpu device or on the CPU (`flex`).
//! No GUI or command-line dependency: the window and `loupe train` talk to
//! it through [`events`] (typed channels) and call the same [`trainer`].
//!
//! - [`config`]: a run's settings, their limits and the presets (one place).
//! - [`methods`]: one file per training method, behind one trait.
//! - [`trainer`]: the `Trainer` (step, evaluate, save) and a whole run.
//! - [`inference`]: one prediction path; saved runs loaded back.
//! - [`lineage`]: the run a run starts from (this project or another).
//! - [`distill`]: the frozen teacher run a distillation method learns from.
//! - [`models`]: the architectures; [`losses`], [`schedule`], [`ema`],
//!   [`augment`]: the pieces methods are made of.
//! - [`kernels`]: Loupe's CPU convolution kernels (Burn backend extension).
//! - [`segmentation`]: segmentation runs (U-Net, Dice, predicted maps).
//! - [`data`]: pools to tensors; [`slices`]: which slices of a CT series a
//!   2-D model reads; [`runs`]: run folders; [`metrics`].

pub mod augment;
pub mod config;
pub mod data;
pub mod device;
pub mod distill;
pub mod ema;
pub mod error;
pub mod events;
pub mod explain;
pub mod inference;
pub mod kernels;
pub mod lineage;
pub mod losses;
pub mod methods;
pub mod metrics;
pub mod models;
pub mod runs;
pub mod schedule;
pub mod segmentation;
pub mod slices;
pub mod threads;
pub mod trainer;
