//! `loupe doctor`: the GPU adapters, the limits that matter for volumes, and
//! a Burn training step on the shared device.

use crate::render::device::{self, AdapterSummary};
use crate::train::device::{self as compute, ComputeDevice, SmokeReport};

const MIB: f64 = 1024.0 * 1024.0;

pub fn run() -> anyhow::Result<()> {
    let adapters = device::enumerate_adapters();
    println!("wgpu adapters ({}):", adapters.len());
    for info in &adapters {
        println!(
            "  - {} · {:?} · {:?} · driver {} {}",
            info.name, info.backend, info.device_type, info.driver, info.driver_info
        );
    }
    match device::headless_render_state() {
        Ok(render_state) => {
            let summary = AdapterSummary::of(&render_state);
            println!(
                "chosen: {} on {} ({})",
                summary.name, summary.backend, summary.device_type
            );
            println!(
                "limits: largest 3-D texture {0}×{0}×{0} texels, largest buffer {1:.0} MiB, largest storage binding {2:.0} MiB",
                summary.max_texture_3d,
                summary.max_buffer_bytes as f64 / MIB,
                summary.max_storage_binding_bytes as f64 / MIB,
            );
            let shared = crate::app::training::display_compute(&render_state)?;
            report(&shared, &compute::smoke_test(&shared)?);
        }
        Err(error) => println!("display device: {error}; training would run on the CPU"),
    }
    let cpu = compute::flex();
    report(&cpu, &compute::smoke_test(&cpu)?);
    Ok(())
}

fn report(device: &ComputeDevice, smoke: &SmokeReport) {
    println!(
        "burn on {}: forward+backward {:.1} ms first{}, {:.1} ms warm; loss {:.4}, gradient {}",
        device.description,
        smoke.first.as_secs_f64() * 1e3,
        if device.shares_display_device {
            " (includes shader compilation)"
        } else {
            ""
        },
        smoke.warm.as_secs_f64() * 1e3,
        smoke.loss,
        if smoke.grad_abs_sum > 0.0 {
            "ok"
        } else {
            "ZERO"
        },
    );
}
