//! Training with Burn, on the display's wgpu device or on the CPU (`flex`).
//! No GUI or command-line dependency: the window and `loupe train` talk to
//! it through [`events`] (typed channels) and call the same [`run::train`].
//!
//! Layers, each importing only those below it:
//! - leaves: [`spec`] (what a method is, its declared settings), [`events`],
//!   [`losses`], [`schedule`], [`ema`], [`augment`], [`metrics`],
//!   [`models`], [`kernels`], [`phases`];
//! - [`config`]: a run's settings, their limits, the input/model rules;
//! - [`step`]: batches, models and the step traits; [`gradients`];
//! - [`methods`]: one file per method, and the registry;
//! - [`runs`], [`data`], [`slices`], [`inference`], [`lineage`], [`distill`],
//!   [`presets`], [`device`]: run folders, pools, loading, teachers, presets;
//! - the tasks [`classify`] and [`segmentation`] behind [`task::Learner`];
//! - [`run`]: the one run loop.

pub mod augment;
pub mod classify;
pub mod config;
pub mod data;
pub mod device;
pub mod distill;
pub mod ema;
pub mod error;
pub mod events;
pub mod explain;
pub mod eyes;
pub mod gradients;
pub mod inference;
pub mod kernels;
pub mod lineage;
pub mod losses;
pub mod methods;
pub mod metrics;
pub mod mil;
pub mod models;
pub mod optimisation;
pub mod phases;
pub mod presets;
pub mod run;
pub mod runs;
pub mod schedule;
pub mod segmentation;
pub mod slices;
pub mod spec;
pub mod step;
pub mod task;
pub mod threads;
