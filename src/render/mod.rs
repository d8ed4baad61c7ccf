//! Drawing: the one wgpu device the window and training share, and the CPU
//! reference renderer that turns slices into display pixels.

pub mod callback;
pub mod cpu;
pub mod device;
pub mod gpu;
pub mod gpu_data;
pub mod view;
