//! The GPU viewer inside egui: resources kept in egui_wgpu's callback
//! resources (the uploaded volume and label map, pipelines, one uniform
//! buffer per view slot), and a paint callback per view whose `prepare`
//! writes that view's uniform and whose `paint` only draws.

use std::collections::HashMap;

use egui_wgpu::{CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};

use super::gpu::{GpuLabels, GpuVolume, RenderError, SliceParams, SliceRenderer};
use crate::paint::EditLog;
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
    /// Volumes on the GPU by key (volume and time point); those no view shows are dropped.
    volumes: HashMap<u64, GpuVolume>,
    /// The label map: its key, the edit revision uploaded, the texture.
    labels: Option<(u64, u64, GpuLabels)>,
    slots: HashMap<usize, ViewSlot>,
}

/// Key for a volume's time point on the GPU.
pub fn volume_key(volume_id: u64, time: usize) -> u64 {
    volume_id.wrapping_mul(1_000_003).wrapping_add(time as u64)
}

/// The label map to show: the volume, its key (a new key is a new map) and
/// its painting edits (only the edited boxes are uploaded again).
pub struct ShownLabels<'a> {
    pub labels: &'a Volume,
    pub key: u64,
    pub edits: &'a EditLog,
}

/// Makes exactly these volumes (and the label map) resident on the GPU,
/// uploading what is missing and dropping what no view shows any more.
/// Returns notices for volumes that had to be downsampled.
pub fn ensure_uploaded(
    render_state: &RenderState,
    volumes: &[(&Volume, usize, u64)],
    labels: Option<ShownLabels<'_>>,
) -> Result<Vec<String>, RenderError> {
    let mut renderer = render_state.renderer.write();
    let resources = &mut renderer.callback_resources;
    if !resources.contains::<ViewerResources>() {
        resources.insert(ViewerResources {
            renderer: SliceRenderer::new(&render_state.device, &render_state.queue),
            target_format: render_state.target_format,
            volumes: HashMap::new(),
            labels: None,
            slots: HashMap::new(),
        });
    }
    let Some(viewer) = resources.get_mut::<ViewerResources>() else {
        return Err(RenderError::Gpu("viewer resources missing".into()));
    };
    // Drop old textures first so a replaced volume is never held twice.
    viewer
        .volumes
        .retain(|key, _| volumes.iter().any(|(_, _, k)| k == key));
    for (volume, time, key) in volumes {
        if !viewer.volumes.contains_key(key) {
            let uploaded =
                GpuVolume::upload(&render_state.device, &render_state.queue, volume, *time)?;
            viewer.volumes.insert(*key, uploaded);
        }
    }
    if let Some(shown) = labels {
        let partial = match &viewer.labels {
            Some((key, revision, _)) if *key == shown.key => shown.edits.since(*revision),
            _ => None,
        };
        match (partial, &mut viewer.labels) {
            (Some(None), _) => {}
            (Some(Some(edited)), Some((_, revision, gpu))) => {
                gpu.write_box(&render_state.queue, shown.labels, edited.min, edited.size());
                *revision = shown.edits.revision;
            }
            _ => {
                viewer.labels = Some((
                    shown.key,
                    shown.edits.revision,
                    GpuLabels::upload(&render_state.device, &render_state.queue, shown.labels),
                ));
            }
        }
    }
    Ok(viewer
        .volumes
        .values()
        .filter_map(|v| v.notice.clone())
        .collect())
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
        let key = &self.volume_key;
        let Some(volume) = viewer.volumes.get(key) else {
            return Vec::new();
        };
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
            .and_then(|k| viewer.labels.as_ref().filter(|(lk, _, _)| *lk == k))
            .map(|(_, _, l)| l);
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
        let Some(volume) = viewer.volumes.get(&self.volume_key) else {
            return;
        };
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
