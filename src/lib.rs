//! Loupe: an offline workstation for labeling medical images and training
//! models on them, live, in one window.
//!
//! Dependencies point one way: `ui → app → {render, train, volume}`;
//! `cli` is the edge that starts either the window or a command.
//!
//! - [`volume`]: NIfTI and raster files, voxels in their stored type, geometry.
//! - [`render`]: the shared wgpu device and the CPU reference renderer.
//! - [`train`]: Burn on the shared device or the CPU.
//! - [`synth`]: deterministic generated data.
//! - [`paint`]: label-map painting tools, strokes, undo, volumes and Dice (no window).
//! - [`rop`]: retinopathy of prematurity graded per eye and exam (ICROP3, ETROP), pure rules.
//! - [`durable`]: crash-safe small-file writes; [`rng`]: the one seeded generator;
//!   [`allocator`]: the C allocator keeps what training frees.
//! - [`app`]: state and commands; [`ui`]: the panels; [`cli`]: subcommands.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod demo;
pub mod durable;
pub mod paint;
pub mod render;
pub mod rng;
pub mod rop;
pub mod store;
pub mod synth;
pub mod train;
pub mod ui;
pub mod user_file;
pub mod volume;
