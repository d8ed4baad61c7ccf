//! Burn's compute devices: the display's wgpu device, registered with Burn
//! exactly once, or the pure-Rust `flex` CPU device.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use burn::tensor::{Device, Distribution, Tensor};

use super::config::DeviceKind;

/// Why a compute device could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("Burn could not use the display's wgpu device: {0}")]
    Register(String),
    #[error("Burn failed on {device}: {message}")]
    Execution { device: String, message: String },
}

/// Where Burn runs.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    /// For people: e.g. "wgpu (shared with the display): llvmpipe, Vulkan".
    pub description: String,
    pub shares_display_device: bool,
    /// A software rasteriser (llvmpipe) rather than a GPU.
    pub software: bool,
}

impl ComputeDevice {
    /// What presets should size a run for: a real GPU, or a CPU (`flex`,
    /// or a software wgpu adapter, which is slower still).
    pub fn kind(&self) -> DeviceKind {
        if self.shares_display_device && !self.software {
            DeviceKind::Gpu
        } else {
            DeviceKind::Cpu
        }
    }
}

/// wgpu devices already handed to Burn, with the Burn device for each. Burn
/// cannot tell that the same handles were registered twice (each
/// registration would get its own runtime and memory pools), so Loupe keeps
/// the record.
static REGISTERED: Mutex<Vec<(wgpu::Device, Device)>> = Mutex::new(Vec::new());

/// The display's wgpu objects, as the window (or a headless setup) made them.
#[derive(Clone, Debug)]
pub struct WgpuHandles {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

/// Registers the display's wgpu device with Burn (once per device; later
/// calls return the same Burn device).
pub fn shared_wgpu(render_state: &WgpuHandles) -> Result<ComputeDevice, DeviceError> {
    let info = render_state.adapter.get_info();
    let description = format!(
        "wgpu (shared with the display): {}, {:?}",
        info.name, info.backend
    );
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let mut registered = REGISTERED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, device)) = registered
        .iter()
        .find(|(wgpu_device, _)| *wgpu_device == render_state.device)
    {
        return Ok(ComputeDevice {
            device: device.clone(),
            description,
            shares_display_device: true,
            software,
        });
    }
    let setup = burn::tensor::wgpu::WgpuSetup {
        instance: render_state.instance.clone(),
        adapter: render_state.adapter.clone(),
        device: render_state.device.clone(),
        queue: render_state.queue.clone(),
        backend: info.backend,
    };
    let device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| DeviceError::Register(e.to_string()))?;
    registered.push((render_state.device.clone(), device.clone()));
    Ok(ComputeDevice {
        device,
        description,
        shares_display_device: true,
        software,
    })
}

/// The CPU device (tests, machines without a GPU adapter, or by choice).
pub fn flex() -> ComputeDevice {
    ComputeDevice {
        device: Device::flex(),
        description: "flex (CPU)".into(),
        shares_display_device: false,
        software: false,
    }
}

/// Result of a small forward + backward pass.
#[derive(Clone, Debug)]
pub struct SmokeReport {
    /// First pass, including kernel compilation.
    pub first: Duration,
    /// A second, warm pass.
    pub warm: Duration,
    pub loss: f32,
    /// Sum of |∂loss/∂w| for the first layer; non-zero shows gradients flowed.
    pub grad_abs_sum: f32,
}

/// One step of a two-layer perceptron with gradients: proves Burn computes,
/// differentiates and reads back on `device`.
pub fn smoke_test(compute: &ComputeDevice) -> Result<SmokeReport, DeviceError> {
    let device = compute.device.clone().autodiff();
    let pass = || -> Result<(f32, f32), DeviceError> {
        let x = Tensor::<2>::random([64, 32], Distribution::Normal(0.0, 1.0), &device);
        let w1 =
            Tensor::<2>::random([32, 64], Distribution::Normal(0.0, 0.2), &device).require_grad();
        let w2 =
            Tensor::<2>::random([64, 4], Distribution::Normal(0.0, 0.2), &device).require_grad();
        let hidden = burn::tensor::activation::relu(x.matmul(w1.clone()));
        let loss = hidden.matmul(w2).powf_scalar(2.0).mean();
        let grads = loss.backward();
        let grad = w1.grad(&grads).ok_or_else(|| DeviceError::Execution {
            device: compute.description.clone(),
            message: "no gradient reached the first layer".into(),
        })?;
        let loss: f32 = loss.into_scalar::<f32>();
        let grad_abs_sum: f32 = grad.abs().sum().into_scalar::<f32>();
        device.sync().map_err(|e| DeviceError::Execution {
            device: compute.description.clone(),
            message: format!("{e:?}"),
        })?;
        Ok((loss, grad_abs_sum))
    };
    let started = Instant::now();
    pass()?;
    let first = started.elapsed();
    let started = Instant::now();
    let (loss, grad_abs_sum) = pass()?;
    Ok(SmokeReport {
        first,
        warm: started.elapsed(),
        loss,
        grad_abs_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_computes_gradients() {
        let report = smoke_test(&flex()).expect("flex pass");
        assert!(report.loss.is_finite() && report.loss > 0.0);
        assert!(report.grad_abs_sum > 0.0);
    }
}
