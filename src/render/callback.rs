//! The GPU viewer inside egui: resources kept in egui_wgpu's callback
//! resources (the uploaded volume and label map, pipelines, one uniform
//! buffer per view slot), and a paint callback per view whose `prepare`
//! writes that view's uniform and whose `paint` only draws.

use std::collections::HashMap;

use egui_wgpu::{CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};

use super::gpu::{GpuLabels, GpuVolume, RenderError, SliceParams, SliceRenderer};
use crate::volume::Volume;

/// One view's GPU state.
struct ViewSlot {
    uniform: wgpu::Buffer,
    /// The bind group and the (volume, labels) keys it was made for.
    bind_group: Option<((u64, u64), wgpu::BindGroup)>,
}

/// Everything the viewer keeps on the GPU.
pub struct ViewerResources {
    renderer: SliceRenderer,
    target_format: wgpu::TextureFormat,
    volume: Option<(u64, GpuVolume)>,
    labels: Option<(u64, GpuLabels)>,
    slots: HashMap<usize, ViewSlot>,
}

/// Key for a volume's time point on the GPU.
pub fn volume_key(volume_id: u64, time: usize) -> u64 {
    volume_id.wrapping_mul(1_000_003).wrapping_add(time as u64)
}

/// Uploads the volume (and label map) when they are not on the GPU yet.
/// Returns a notice when the volume had to be downsampled.
pub fn ensure_uploaded(
    render_state: &RenderState,
    volume: &Volume,
    time: usize,
    key: u64,
    labels: Option<(&Volume, u64)>,
) -> Result<Option<String>, RenderError> {
    let mut renderer = render_state.renderer.write();
    let resources = &mut renderer.callback_resources;
    if !resources.contains::<ViewerResources>() {
        resources.insert(ViewerResources {
            renderer: SliceRenderer::new(&render_state.device, &render_state.queue),
            target_format: render_state.target_format,
            volume: None,
            labels: None,
            slots: HashMap::new(),
        });
    }
    let Some(viewer) = resources.get_mut::<ViewerResources>() else {
        return Err(RenderError::Gpu("viewer resources missing".into()));
    };
    if viewer.volume.as_ref().is_none_or(|(k, _)| *k != key) {
        // Drop the old texture first so two large volumes are never held at once.
        viewer.volume = None;
        viewer.volume = Some((
            key,
            GpuVolume::upload(&render_state.device, &render_state.queue, volume, time)?,
        ));
    }
    if let Some((labels, labels_key)) = labels
        && viewer.labels.as_ref().is_none_or(|(k, _)| *k != labels_key)
    {
        viewer.labels = Some((
            labels_key,
            GpuLabels::upload(&render_state.device, &render_state.queue, labels),
        ));
    }
    Ok(viewer.volume.as_ref().and_then(|(_, v)| v.notice.clone()))
}

/// One view's draw call.
pub struct SliceCallback {
    /// Which view (its uniform buffer is its own).
    pub slot: usize,
    pub volume_key: u64,
    /// The label map's key when labels are drawn.
    pub labels_key: Option<u64>,
    pub params: SliceParams,
}

impl CallbackTrait for SliceCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(viewer) = resources.get_mut::<ViewerResources>() else {
            return Vec::new();
        };
        let Some((key, volume)) = &viewer.volume else {
            return Vec::new();
        };
        if *key != self.volume_key {
            return Vec::new();
        }
        viewer
            .renderer
            .prepare_pipeline(device, volume.kind, viewer.target_format);
        let slot = viewer.slots.entry(self.slot).or_insert_with(|| ViewSlot {
            uniform: SliceRenderer::uniform_buffer(device),
            bind_group: None,
        });
        queue.write_buffer(
            &slot.uniform,
            0,
            bytemuck::bytes_of(&self.params.uniform(volume)),
        );
        let labels = self
            .labels_key
            .and_then(|k| viewer.labels.as_ref().filter(|(lk, _)| *lk == k))
            .map(|(_, l)| l);
        let keys = (*key, labels.map_or(0, |_| self.labels_key.unwrap_or(0)));
        if slot.bind_group.as_ref().is_none_or(|(k, _)| *k != keys) {
            let group = viewer
                .renderer
                .bind_group(device, &slot.uniform, volume, labels);
            slot.bind_group = Some((keys, group));
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(viewer) = resources.get::<ViewerResources>() else {
            return;
        };
        let Some((key, volume)) = &viewer.volume else {
            return;
        };
        if *key != self.volume_key {
            return;
        }
        let (Some(pipeline), Some(slot)) = (
            viewer.renderer.pipeline(volume.kind, viewer.target_format),
            viewer.slots.get(&self.slot),
        ) else {
            return;
        };
        let Some((_, group)) = &slot.bind_group else {
            return;
        };
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.draw(0..3, 0..1);
    }
}
