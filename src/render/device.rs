//! The single wgpu device of the process: eframe creates it, with the
//! adapter's full limits and features so Burn can train on it too.
//!
//! Why eframe creates it (rather than Burn's `Device::wgpu_options()
//! .init_with_setup()` handing an existing setup to eframe): eframe picks the
//! adapter that can present to the window's surface. On a machine with two
//! GPUs a device chosen first, without the surface, may be one the window
//! cannot draw with. So egui chooses the adapter, we ask it for everything
//! the adapter offers, and `train::device` registers that device with Burn
//! once.

use std::sync::Arc;

use egui_wgpu::{WgpuConfiguration, WgpuSetup, WgpuSetupCreateNew};

/// The device descriptor Loupe asks every adapter for: its full limits and
/// features, as Burn's own WGSL runtime would request them.
pub fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("loupe shared device (egui + burn)"),
        // Mappable primary buffers make every buffer host-visible, which is
        // slow on discrete GPUs; Burn leaves it out, so do we.
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        // egui's default asks for minimal limits, too small for Burn's
        // storage buffers and for large 3-D textures.
        required_limits: adapter.limits(),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        trace: wgpu::Trace::Off,
        // SAFETY: Burn's runtime enables experimental features on the devices
        // it creates (for shader passthrough); the shared device must offer
        // the same so Burn behaves as on its own device.
        experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
    }
}

/// The wgpu setup eframe uses for the window: egui's defaults with Loupe's
/// device descriptor.
pub fn wgpu_setup() -> WgpuSetup {
    let mut setup = WgpuSetupCreateNew::without_display_handle();
    setup.device_descriptor = Arc::new(device_descriptor);
    WgpuSetup::CreateNew(setup)
}

/// eframe's wgpu configuration for the main window.
pub fn wgpu_configuration() -> WgpuConfiguration {
    WgpuConfiguration {
        wgpu_setup: wgpu_setup(),
        ..Default::default()
    }
}

/// Creates the render state without a window (for `loupe doctor`, benchmarks
/// and tests), through the same configuration the window uses.
pub fn headless_render_state() -> Result<egui_wgpu::RenderState, String> {
    let setup = wgpu_setup();
    let instance = pollster::block_on(setup.new_instance());
    pollster::block_on(egui_wgpu::RenderState::create(
        &WgpuConfiguration {
            wgpu_setup: setup,
            ..Default::default()
        },
        &instance,
        None,
        egui_wgpu::RendererOptions::default(),
    ))
    .map_err(|e| format!("no usable wgpu adapter: {e}"))
}

/// What the status bar and `loupe doctor` say about an adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// Largest 3-D texture edge (texels) the device accepts.
    pub max_texture_3d: u32,
    /// Largest buffer (bytes).
    pub max_buffer_bytes: u64,
    /// Largest storage-buffer binding (bytes), what Burn's tensors are bound as.
    pub max_storage_binding_bytes: u64,
}

impl AdapterSummary {
    /// Summarises an adapter and the limits the device was created with.
    pub fn new(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Self {
        Self {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            max_texture_3d: limits.max_texture_dimension_3d,
            max_buffer_bytes: limits.max_buffer_size,
            max_storage_binding_bytes: limits.max_storage_buffer_binding_size,
        }
    }

    /// Of a render state's device.
    pub fn of(render_state: &egui_wgpu::RenderState) -> Self {
        Self::new(
            &render_state.adapter.get_info(),
            &render_state.device.limits(),
        )
    }
}

/// Every adapter wgpu can see, on all backends.
pub fn enumerate_adapters() -> Vec<wgpu::AdapterInfo> {
    let setup = wgpu_setup();
    let instance = pollster::block_on(setup.new_instance());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| a.get_info())
        .collect()
}
