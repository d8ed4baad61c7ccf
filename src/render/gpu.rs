//! The GPU viewer: volumes uploaded once as 3-D textures in their stored
//! type, and a WGSL slice pipeline (shaders/slice.wgsl) drawing any view,
//! either into egui through a paint callback or into an offscreen texture
//! (tests, benchmarks). Each view has its own uniform buffer.

use std::borrow::Cow;
use std::collections::HashMap;

use wgpu::util::DeviceExt;

use super::cpu::{Interpolation, WindowLevel};
use super::gpu_data::SliceUniform;
use super::view::ViewGeometry;
use crate::volume::{SampleType, Scaling, Volume, VoxelData};

const SHADER: &str = include_str!("../../shaders/slice.wgsl");

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot show this volume on the GPU: {0}")]
    Unsupported(String),
    #[error("the GPU failed: {0}")]
    Gpu(String),
}

/// How a texture's texels read in WGSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleKind {
    Uint,
    Sint,
    Float,
}

impl SampleKind {
    fn wgsl(self) -> &'static str {
        match self {
            SampleKind::Uint => "u32",
            SampleKind::Sint => "i32",
            SampleKind::Float => "f32",
        }
    }

    fn texture_sample_type(self) -> wgpu::TextureSampleType {
        match self {
            SampleKind::Uint => wgpu::TextureSampleType::Uint,
            SampleKind::Sint => wgpu::TextureSampleType::Sint,
            SampleKind::Float => wgpu::TextureSampleType::Float { filterable: false },
        }
    }
}

/// A volume's voxels for one time point as texture bytes in a texture format.
struct TextureData<'a> {
    format: wgpu::TextureFormat,
    kind: SampleKind,
    bytes_per_texel: usize,
    bytes: Cow<'a, [u8]>,
}

/// Texels of time point `time`, every `stride`-th voxel along each axis,
/// kept in the stored type where a texture format has it.
fn texture_data(
    volume: &Volume,
    time: usize,
    stride: usize,
) -> Result<TextureData<'_>, RenderError> {
    let shape = volume.spatial_shape();
    let channels = volume.channels;
    let per_volume = shape.iter().product::<usize>() * channels;
    let start = time * per_volume;
    let out_shape = shape.map(|n| n.div_ceil(stride));
    // Texels carry 1 or 4 channels: RGB is padded with an opaque alpha.
    let texel_channels = if channels == 1 { 1 } else { 4 };
    fn gather<T: bytemuck::Pod, U: bytemuck::Pod>(
        data: &[T],
        (shape, out_shape, channels, texel_channels, stride, start): (
            [usize; 3],
            [usize; 3],
            usize,
            usize,
            usize,
            usize,
        ),
        convert: impl Fn(T) -> U,
        pad: U,
    ) -> Vec<u8> {
        if stride == 1 && channels == texel_channels {
            let slice = &data[start..start + shape.iter().product::<usize>() * channels];
            return slice
                .iter()
                .map(|&v| convert(v))
                .flat_map(|v| bytemuck::bytes_of(&v).to_vec())
                .collect();
        }
        let mut out: Vec<U> =
            Vec::with_capacity(out_shape.iter().product::<usize>() * texel_channels);
        for k in (0..shape[2]).step_by(stride) {
            for j in (0..shape[1]).step_by(stride) {
                for i in (0..shape[0]).step_by(stride) {
                    let voxel = start + ((k * shape[1] + j) * shape[0] + i) * channels;
                    for c in 0..texel_channels {
                        out.push(if c < channels {
                            convert(data[voxel + c])
                        } else {
                            pad
                        });
                    }
                }
            }
        }
        bytemuck::cast_slice(&out).to_vec()
    }
    let args = (shape, out_shape, channels, texel_channels, stride, start);
    let sample_type = volume.data.sample_type();
    let Some((format, kind, stored_as_is)) = texel_format(sample_type, texel_channels) else {
        return Err(RenderError::Unsupported(format!(
            "{channels} channels of {}",
            sample_type.name()
        )));
    };
    let bytes_per_texel = format.block_copy_size(None).unwrap_or(1) as usize;
    // Stored type kept and nothing to pick or pad: the volume's own bytes.
    if stored_as_is && stride == 1 && texel_channels == 1 {
        let size = sample_type.size_bytes();
        let bytes = &volume.data.as_bytes()[start * size..(start + per_volume) * size];
        return Ok(TextureData {
            format,
            kind,
            bytes_per_texel,
            bytes: Cow::Borrowed(bytes),
        });
    }
    let bytes = match &volume.data {
        VoxelData::U8(v) => gather(v, args, |x| x, 255u8),
        VoxelData::I8(v) => gather(v, args, |x| x, 0i8),
        VoxelData::U16(v) => gather(v, args, |x| x, u16::MAX),
        VoxelData::I16(v) => gather(v, args, |x| x, 0i16),
        VoxelData::U32(v) => gather(v, args, |x| x, 0u32),
        VoxelData::I32(v) => gather(v, args, |x| x, 0i32),
        VoxelData::F32(v) => gather(v, args, |x| x, 1f32),
        // No 64-bit texture formats: converted per upload, the volume itself stays as stored.
        VoxelData::F64(v) => gather(v, args, |x| x as f32, 1f32),
        VoxelData::U64(v) => gather(v, args, |x| x as f32, 1f32),
        VoxelData::I64(v) => gather(v, args, |x| x as f32, 1f32),
    };
    Ok(TextureData {
        format,
        kind,
        bytes_per_texel,
        bytes: Cow::Owned(bytes),
    })
}

/// The texture format and WGSL sample kind for texels of a sample type (1 or
/// 4 channels), and whether the samples go up unconverted.
fn texel_format(
    sample_type: SampleType,
    texel_channels: usize,
) -> Option<(wgpu::TextureFormat, SampleKind, bool)> {
    use wgpu::TextureFormat as F;
    Some(match (sample_type, texel_channels) {
        (SampleType::U8, 1) => (F::R8Uint, SampleKind::Uint, true),
        (SampleType::I8, 1) => (F::R8Sint, SampleKind::Sint, true),
        (SampleType::U16, 1) => (F::R16Uint, SampleKind::Uint, true),
        (SampleType::I16, 1) => (F::R16Sint, SampleKind::Sint, true),
        (SampleType::U32, 1) => (F::R32Uint, SampleKind::Uint, true),
        (SampleType::I32, 1) => (F::R32Sint, SampleKind::Sint, true),
        (SampleType::F32, 1) => (F::R32Float, SampleKind::Float, true),
        (SampleType::F64 | SampleType::U64 | SampleType::I64, 1) => {
            (F::R32Float, SampleKind::Float, false)
        }
        (SampleType::U8, 4) => (F::Rgba8Uint, SampleKind::Uint, false),
        (SampleType::U16, 4) => (F::Rgba16Uint, SampleKind::Uint, false),
        (SampleType::F32, 4) => (F::Rgba32Float, SampleKind::Float, false),
        _ => return None,
    })
}

/// A sampled, writable 3-D texture.
fn texture_3d(
    label: &'static str,
    size: [u32; 3],
    format: wgpu::TextureFormat,
) -> wgpu::TextureDescriptor<'static> {
    wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: size[0],
            height: size[1],
            depth_or_array_layers: size[2],
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    }
}

/// A volume time point on the GPU.
pub struct GpuVolume {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    pub kind: SampleKind,
    /// Texture size (after any downsampling).
    pub size: [u32; 3],
    pub channels: u32,
    /// Every `stride`-th voxel was uploaded (1 unless the volume exceeds the device's 3-D texture limit).
    pub stride: usize,
    /// Said to the user when the volume had to be downsampled.
    pub notice: Option<String>,
}

impl GpuVolume {
    /// Uploads time point `time` of `volume`.
    pub fn upload(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        volume: &Volume,
        time: usize,
    ) -> Result<Self, RenderError> {
        let shape = volume.spatial_shape();
        let limit = device.limits().max_texture_dimension_3d.max(1) as usize;
        let largest = *shape.iter().max().unwrap_or(&1);
        let stride = largest.div_ceil(limit).max(1);
        let notice = (stride > 1).then(|| {
            format!("shown at 1/{stride} resolution: {shape:?} exceeds this GPU's largest 3-D texture ({limit})")
        });
        let data = texture_data(
            volume,
            time.min(volume.time_points().saturating_sub(1)),
            stride,
        )?;
        let size = shape.map(|n| n.div_ceil(stride) as u32);
        // A GPU out of memory (or refusing the texture) is reported, not a panic.
        let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let texture = device.create_texture(&texture_3d("loupe volume", size, data.format));
        // Upload in slabs of z so no single staging copy exceeds a few tens of MB.
        let row = size[0] as usize * data.bytes_per_texel;
        let slice_bytes = row * size[1] as usize;
        let slabs = ((64usize << 20) / slice_bytes.max(1)).max(1);
        let mut z = 0usize;
        while z < size[2] as usize {
            let depth = slabs.min(size[2] as usize - z);
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: 0,
                        z: z as u32,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                &data.bytes[z * slice_bytes..(z + depth) * slice_bytes],
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row as u32),
                    rows_per_image: Some(size[1]),
                },
                wgpu::Extent3d {
                    width: size[0],
                    height: size[1],
                    depth_or_array_layers: depth as u32,
                },
            );
            z += depth;
        }
        if let Some(error) = pollster::block_on(invalid.pop()) {
            return Err(RenderError::Gpu(error.to_string()));
        }
        if let Some(error) = pollster::block_on(out_of_memory.pop()) {
            return Err(RenderError::Gpu(format!(
                "not enough GPU memory for this volume ({error})"
            )));
        }
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(Self {
            texture,
            view,
            kind: data.kind,
            size,
            channels: volume.channels as u32,
            stride,
            notice,
        })
    }

    /// Bytes the texture holds on the GPU.
    pub fn size_bytes(&self) -> u64 {
        let texel = self.texture.format().block_copy_size(None).unwrap_or(1) as u64;
        self.size.iter().map(|&n| n as u64).product::<u64>() * texel
    }
}

/// A label map on the GPU (R32Uint, nearest only).
pub struct GpuLabels {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

fn label_value(labels: &Volume, voxel: usize) -> u32 {
    labels.value_at(voxel).map_or(0, |x| x.max(0.0) as u32)
}

impl GpuLabels {
    pub fn upload(device: &wgpu::Device, queue: &wgpu::Queue, labels: &Volume) -> Self {
        let shape = labels.spatial_shape();
        let values: Vec<u32> = (0..shape.iter().product::<usize>())
            .map(|v| label_value(labels, v))
            .collect();
        Self::from_values(device, queue, shape.map(|n| n as u32), &values)
    }

    /// Writes one box of the map (a painted stroke's extent) into the
    /// texture, leaving the rest: painting a 512³ map costs the box, not
    /// the volume. `min` and `size` are in voxels.
    pub fn write_box(
        &self,
        queue: &wgpu::Queue,
        labels: &Volume,
        min: [usize; 3],
        size: [usize; 3],
    ) {
        let shape = labels.spatial_shape();
        if (0..3).any(|a| size[a] == 0 || min[a] + size[a] > shape[a]) {
            return;
        }
        let mut values = Vec::with_capacity(size.iter().product());
        for k in min[2]..min[2] + size[2] {
            for j in min[1]..min[1] + size[1] {
                let row = min[0] + shape[0] * (j + shape[1] * k);
                values.extend((row..row + size[0]).map(|v| label_value(labels, v)));
            }
        }
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: min[0] as u32,
                    y: min[1] as u32,
                    z: min[2] as u32,
                },
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(&values),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * size[0] as u32),
                rows_per_image: Some(size[1] as u32),
            },
            wgpu::Extent3d {
                width: size[0] as u32,
                height: size[1] as u32,
                depth_or_array_layers: size[2] as u32,
            },
        );
    }

    fn from_values(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        size: [u32; 3],
        values: &[u32],
    ) -> Self {
        let texture = device.create_texture_with_data(
            queue,
            &texture_3d("loupe labels", size, wgpu::TextureFormat::R32Uint),
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(values),
        );
        Self {
            view: texture.create_view(&wgpu::TextureViewDescriptor::default()),
            texture,
        }
    }
}

/// What one view draws, besides which textures.
#[derive(Clone, Copy, Debug)]
pub struct SliceParams {
    pub geometry: ViewGeometry,
    pub size_px: [u32; 2],
    pub window: WindowLevel,
    pub interpolation: Interpolation,
    pub scaling: Option<Scaling>,
    /// Label overlay opacity and outline mode, when labels are shown.
    pub overlay: Option<(f32, bool)>,
}

impl SliceParams {
    /// The uniform for a volume uploaded with `stride`.
    pub fn uniform(&self, volume: &GpuVolume) -> SliceUniform {
        let s = volume.stride as f64;
        // With a downsampled texture, voxel index v is texel v / stride.
        let scale = |v: [f64; 3], shift: f64| {
            [
                (v[0] + shift) / s,
                (v[1] + shift) / s,
                (v[2] + shift) / s,
                0.0,
            ]
            .map(|x| x as f32)
        };
        let (slope, inter) = self
            .scaling
            .map_or((1.0, 0.0), |sc| (sc.slope as f32, sc.inter as f32));
        let (opacity, outline) = self.overlay.unwrap_or((0.0, false));
        SliceUniform {
            origin: scale(self.geometry.origin, 0.0),
            step_x: scale(self.geometry.step_x, 0.0),
            step_y: scale(self.geometry.step_y, 0.0),
            volume_size: [
                volume.size[0],
                volume.size[1],
                volume.size[2],
                volume.channels,
            ],
            window: [
                self.window.center as f32,
                self.window.width.max(1e-6) as f32,
                slope,
                inter,
            ],
            view: [self.size_px[0] as f32, self.size_px[1] as f32, opacity, 0.0],
            flags: [
                (self.interpolation == Interpolation::Linear) as u32,
                self.overlay.is_some() as u32,
                outline as u32,
                0,
            ],
        }
    }
}

/// Pipelines and layouts, built once per device, per sample kind and target format.
pub struct SliceRenderer {
    layouts: HashMap<SampleKind, wgpu::BindGroupLayout>,
    pipelines: HashMap<(SampleKind, wgpu::TextureFormat), wgpu::RenderPipeline>,
    no_labels: GpuLabels,
}

impl SliceRenderer {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        Self {
            layouts: HashMap::new(),
            pipelines: HashMap::new(),
            no_labels: GpuLabels::from_values(device, queue, [1, 1, 1], &[0]),
        }
    }

    fn layout(&mut self, device: &wgpu::Device, kind: SampleKind) -> &wgpu::BindGroupLayout {
        self.layouts.entry(kind).or_insert_with(|| {
            let texture = |binding, sample_type| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type,
                    view_dimension: wgpu::TextureViewDimension::D3,
                    multisampled: false,
                },
                count: None,
            };
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("loupe slice"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    },
                    texture(1, kind.texture_sample_type()),
                    texture(2, wgpu::TextureSampleType::Uint),
                ],
            })
        })
    }

    /// Builds (once) the pipeline for a sample kind and render target format.
    pub fn prepare_pipeline(
        &mut self,
        device: &wgpu::Device,
        kind: SampleKind,
        target: wgpu::TextureFormat,
    ) {
        if self.pipelines.contains_key(&(kind, target)) {
            return;
        }
        let layout = self.layout(device, kind).clone();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("shaders/slice.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.replace("SAMPLE_T", kind.wgsl()).into()),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("loupe slice"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("loupe slice"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        self.pipelines.insert((kind, target), pipeline);
    }

    pub fn pipeline(
        &self,
        kind: SampleKind,
        target: wgpu::TextureFormat,
    ) -> Option<&wgpu::RenderPipeline> {
        self.pipelines.get(&(kind, target))
    }

    /// A view's bind group: its own uniform buffer, the volume, the labels (or none).
    pub fn bind_group(
        &mut self,
        device: &wgpu::Device,
        uniform: &wgpu::Buffer,
        volume: &GpuVolume,
        labels: Option<&GpuLabels>,
    ) -> wgpu::BindGroup {
        let labels_view = labels.unwrap_or(&self.no_labels).view.clone();
        let layout = self.layout(device, volume.kind).clone();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("loupe slice view"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&volume.view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&labels_view),
                },
            ],
        })
    }

    /// A uniform buffer for one view.
    pub fn uniform_buffer(device: &wgpu::Device) -> wgpu::Buffer {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loupe slice uniform"),
            size: std::mem::size_of::<SliceUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Kept whole on purpose: the steps wgpu dictates in order (target,
    /// encoder, pass, copy to a padded buffer, map, unpad), each using the
    /// one before.
    /// Draws a view into a new RGBA8 texture and reads it back (tests, benchmarks).
    pub fn render_offscreen(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        volume: &GpuVolume,
        labels: Option<&GpuLabels>,
        params: &SliceParams,
    ) -> Result<Vec<u8>, RenderError> {
        let format = wgpu::TextureFormat::Rgba8Unorm;
        self.prepare_pipeline(device, volume.kind, format);
        let [w, h] = params.size_px;
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("loupe offscreen view"),
            size: wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let uniform = Self::uniform_buffer(device);
        queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&params.uniform(volume)));
        let bind_group = self.bind_group(device, &uniform, volume, labels);
        let padded_row = (w * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
            * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loupe readback"),
            size: padded_row as u64 * h as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("loupe offscreen"),
        });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("loupe offscreen"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if let Some(pipeline) = self.pipeline(volume.kind, format) {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.draw(0..3, 0..1);
            }
        }
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: Some(h),
                },
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RenderError::Gpu(e.to_string()))?;
        let mapped = slice
            .get_mapped_range()
            .map_err(|e| RenderError::Gpu(e.to_string()))?;
        let mut out = Vec::with_capacity((w * h * 4) as usize);
        for row in 0..h as usize {
            let start = row * padded_row as usize;
            out.extend_from_slice(&mapped[start..start + w as usize * 4]);
        }
        drop(mapped);
        readback.unmap();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Affine, Endianness, FileFormat};

    fn volume(data: VoxelData, shape: [usize; 3], channels: usize) -> Volume {
        Volume {
            path: "t.nii".into(),
            format: FileFormat::Nifti1,
            shape: shape.to_vec(),
            channels,
            datatype: None,
            endianness: Endianness::Little,
            world_from_voxel: Affine::IDENTITY,
            pixdim: [1.0; 4],
            scaling: None,
            xyzt_units: 0,
            description: String::new(),
            data,
            dicom: None,
        }
    }

    #[test]
    fn stored_types_upload_without_conversion() {
        let v = volume(VoxelData::I16((0..24).collect()), [2, 3, 4], 1);
        let data = texture_data(&v, 0, 1).unwrap();
        assert_eq!(data.format, wgpu::TextureFormat::R16Sint);
        assert!(
            matches!(data.bytes, Cow::Borrowed(_)),
            "no copy for a stored type"
        );
        let f = volume(VoxelData::F64(vec![1.5; 24]), [2, 3, 4], 1);
        assert_eq!(
            texture_data(&f, 0, 1).unwrap().format,
            wgpu::TextureFormat::R32Float
        );
    }

    #[test]
    fn colour_is_padded_and_oversized_volumes_are_strided() {
        let rgb = volume(VoxelData::U8(vec![7; (2 * 2) * 3]), [2, 2, 1], 3);
        let data = texture_data(&rgb, 0, 1).unwrap();
        assert_eq!(data.format, wgpu::TextureFormat::Rgba8Uint);
        assert_eq!(&data.bytes[..4], &[7, 7, 7, 255]);
        // Every second voxel of a 5 × 4 × 3 ramp: 3 × 2 × 2 texels.
        let ramp = volume(VoxelData::U16((0..60).collect()), [5, 4, 3], 1);
        let data = texture_data(&ramp, 0, 2).unwrap();
        let texels: &[u16] = bytemuck::cast_slice(&data.bytes);
        assert_eq!(texels.len(), 3 * 2 * 2);
        assert_eq!(&texels[..4], &[0, 2, 4, 10]);
    }
}
