//! Structs shared with WGSL. Keep in sync with `SliceUniform` in shaders/slice.wgsl.

/// Per-view uniform of shaders/slice.wgsl (`SliceUniform`), 112 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SliceUniform {
    /// Voxel index at view pixel (0, 0); w unused.
    pub origin: [f32; 4],
    /// Voxel-index step per pixel right; w unused.
    pub step_x: [f32; 4],
    /// Voxel-index step per pixel down; w unused.
    pub step_y: [f32; 4],
    /// nx, ny, nz (of the uploaded texture), channels.
    pub volume_size: [u32; 4],
    /// Window center, window width, scl_slope, scl_inter.
    pub window: [f32; 4],
    /// View width and height in pixels, overlay opacity, unused.
    pub view: [f32; 4],
    /// Linear interpolation, has labels, outline only, unused.
    pub flags: [u32; 4],
}
