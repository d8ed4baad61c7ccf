//! `loupe bench profile`: where a supervised training step of the default
//! model (ResNet-18-style) goes on the CPU (`flex`), op by op. Each kind of
//! op is timed alone at every shape the network runs it at — convolution
//! forward and backward, group normalisation forward and backward, ReLU and
//! the residual sums, the classifier, augmentation, the Adam update — and
//! sums are set beside the whole step (augmentation, forward, loss,
//! backward, update) of the model itself. The difference is what isolated
//! timings get wrong: graph bookkeeping and allocation, the loss and the
//! classifier (not listed), and caches warm or cold.

use std::time::Instant;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use super::common::{StepShape, threads_option, within};
use crate::train::augment::{Augmentation, augment};
use crate::train::kernels::{self, conv2d, group_norm};
use crate::train::models::layers::norm;
use crate::train::models::{Classifier, ModelKind};

pub struct ProfileSettings {
    pub input_size: usize,
    pub width: usize,
    pub batch: usize,
    /// Timed repetitions per op (the median is used).
    pub repeats: usize,
    pub threads: usize,
    /// Loupe's CPU convolution kernels (false: Burn's, for comparison).
    pub loupe_kernels: bool,
    pub json: bool,
}

/// One convolution of the network: channels, kernel, stride, input edge.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ConvShape {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    edge: usize,
}

/// The convolutions, group norms `(channels, edge)` and element-wise passes
/// `(channels, edge)` of `ResNet` (src/train/models/resnet.rs) at `input`
/// pixels and `width`. Listed here, checked against the model's parameter
/// count in the tests.
struct Layers {
    convs: Vec<ConvShape>,
    norms: Vec<(usize, usize)>,
    /// ReLUs and residual sums, by shape.
    elementwise: Vec<(usize, usize)>,
    features: usize,
}

fn resnet_layers(input: usize, width: usize) -> Layers {
    let w = width.max(1);
    let mut convs = vec![ConvShape {
        input: 3,
        output: w,
        kernel: 3,
        stride: 2,
        edge: input,
    }];
    let mut edge = input.div_ceil(2);
    let mut norms = vec![(w, edge)];
    let mut elementwise = vec![(w, edge)];
    let mut channels = w;
    for (stage, out) in [w, 2 * w, 4 * w, 8 * w].into_iter().enumerate() {
        let stride = if stage == 0 { 1 } else { 2 };
        for block in 0..2 {
            let (cin, s) = if block == 0 {
                (channels, stride)
            } else {
                (out, 1)
            };
            let out_edge = edge.div_ceil(s);
            convs.push(ConvShape {
                input: cin,
                output: out,
                kernel: 3,
                stride: s,
                edge,
            });
            convs.push(ConvShape {
                input: out,
                output: out,
                kernel: 3,
                stride: 1,
                edge: out_edge,
            });
            norms.extend([(out, out_edge), (out, out_edge)]);
            if s != 1 || cin != out {
                convs.push(ConvShape {
                    input: cin,
                    output: out,
                    kernel: 1,
                    stride: s,
                    edge,
                });
                norms.push((out, out_edge));
            }
            // ReLU after the first norm, the residual sum, the last ReLU.
            elementwise.extend([(out, out_edge); 3]);
            edge = out_edge;
        }
        channels = out;
    }
    Layers {
        convs,
        norms,
        elementwise,
        features: channels,
    }
}

fn conv(shape: &ConvShape, device: &Device) -> Conv2d {
    let pad = shape.kernel / 2;
    Conv2dConfig::new([shape.input, shape.output], [shape.kernel, shape.kernel])
        .with_stride([shape.stride, shape.stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// Median seconds of `f` over `repeats` runs after one untimed run.
fn median_seconds(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Reads one value back, so the timing includes the work.
fn wait(t: Tensor<4>) {
    let _ = t.sum().into_scalar::<f32>();
}

/// (forward, backward) seconds of `forward` on a random input of `dims`;
/// the backward pass computes the input's gradient where `input_grad` (every
/// layer but the first, whose input is the image) and the parameters'.
fn forward_backward(
    dims: [usize; 4],
    repeats: usize,
    device: &Device,
    input_grad: bool,
    forward: impl Fn(Tensor<4>) -> Tensor<4>,
) -> (f64, f64) {
    let mut x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), device);
    if input_grad {
        x = x.require_grad();
    }
    let fwd = median_seconds(repeats, || wait(forward(x.clone())));
    let both = median_seconds(repeats, || {
        let grads = forward(x.clone()).sum().backward();
        // Reading a gradient back waits for the whole backward pass.
        drop(grads);
    });
    (fwd, (both - fwd).max(0.0))
}

/// One profile row: an op kind, how many times a step runs it, its seconds.
struct Row {
    op: &'static str,
    count: usize,
    seconds: f64,
}

pub fn profile(s: &ProfileSettings) -> anyhow::Result<()> {
    kernels::set_enabled(s.loupe_kernels);
    crate::train::threads::with_threads(s.threads, || run(s))?
}

fn run(s: &ProfileSettings) -> anyhow::Result<()> {
    let device = crate::train::device::flex().device.autodiff();
    device.seed(1);
    let layers = resnet_layers(s.input_size, s.width);
    let b = s.batch;
    let mut rows = Vec::new();
    let (mut conv_f, mut conv_b) = (0.0, 0.0);
    for (index, shape) in layers.convs.iter().enumerate() {
        let layer = conv(shape, &device);
        let (f, bw) = forward_backward(
            [b, shape.input, shape.edge, shape.edge],
            s.repeats,
            &device,
            index > 0,
            |x| conv2d(&layer, x),
        );
        conv_f += f;
        conv_b += bw;
    }
    rows.push(Row {
        op: "convolution forward",
        count: layers.convs.len(),
        seconds: conv_f,
    });
    rows.push(Row {
        op: "convolution backward",
        count: layers.convs.len(),
        seconds: conv_b,
    });
    let (mut norm_f, mut norm_b) = (0.0, 0.0);
    for &(channels, edge) in &layers.norms {
        let layer = norm(channels, &device);
        let (f, bw) = forward_backward([b, channels, edge, edge], s.repeats, &device, true, |x| {
            group_norm(&layer, x)
        });
        norm_f += f;
        norm_b += bw;
    }
    rows.push(Row {
        op: "group norm forward",
        count: layers.norms.len(),
        seconds: norm_f,
    });
    rows.push(Row {
        op: "group norm backward",
        count: layers.norms.len(),
        seconds: norm_b,
    });
    let mut elementwise = 0.0;
    for &(channels, edge) in &layers.elementwise {
        let (f, bw) = forward_backward([b, channels, edge, edge], s.repeats, &device, true, relu);
        elementwise += f + bw;
    }
    rows.push(Row {
        op: "ReLU / residual sum, fwd + bwd",
        count: layers.elementwise.len(),
        seconds: elementwise,
    });
    let images = Tensor::<4>::random(
        [b, 3, s.input_size, s.input_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let strength = Augmentation::default();
    let augmentation = median_seconds(s.repeats, || wait(augment(images.clone(), &strength)));
    rows.push(Row {
        op: "augmentation",
        count: 1,
        seconds: augmentation,
    });
    // The whole model: one backward for the Adam update's gradients, and the step itself.
    let model = Classifier::new(ModelKind::Resnet18, 4, s.width, 0.0, &device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new((0..b as i64).map(|i| i % 4).collect::<Vec<_>>(), [b]),
        &device,
    );
    let mut optimizer = AdamConfig::new().init();
    let gradients = |model: &Classifier| {
        let (logits, _) = model.forward(images.clone());
        let loss = crate::train::losses::cross_entropy(logits, labels.clone());
        GradientsParams::from_grads(loss.backward(), model)
    };
    // The whole step but augmentation: forward, loss, backward, update.
    let mut model = Some(model);
    let step = augmentation
        + median_seconds(s.repeats, || {
            if let Some(m) = model.take() {
                let grads = gradients(&m);
                let m = optimizer.step(1e-3, m, grads);
                let _ = m.num_params();
                model = Some(m);
            }
        });
    // The update alone, on gradients computed outside the timing.
    let mut model = model.ok_or_else(|| anyhow::anyhow!("the model was lost in a step"))?;
    let mut updates = Vec::new();
    for _ in 0..s.repeats.max(1) {
        let grads = gradients(&model);
        let started = Instant::now();
        model = optimizer.step(1e-3, model, grads);
        // The update is lazy until a parameter is read.
        wait(first_weight(&model));
        updates.push(started.elapsed().as_secs_f64());
    }
    updates.sort_by(f64::total_cmp);
    rows.push(Row {
        op: "Adam update (all parameters)",
        count: 1,
        seconds: updates[updates.len() / 2],
    });
    let listed: f64 = rows.iter().map(|r| r.seconds).sum();
    let params = model.num_params();
    let rates = kernel_rates(s.repeats);
    report(s, &rows, step, listed, params, layers.features, &rates)
}

/// GFLOP/s of the kernels under the convolutions: a matrix product
/// 1024×576×1024 and a 3×3 convolution 64→64 on 16×64×32×32, forward by
/// Burn's and by Loupe's kernels, and forward + backward by Loupe's.
struct KernelRates {
    gemm_gflops: f64,
    conv_burn_gflops: f64,
    conv_loupe_gflops: f64,
    conv_loupe_training_gflops: f64,
}

fn kernel_rates(repeats: usize) -> KernelRates {
    let device = crate::train::device::flex().device;
    let (m, k, n) = (1024, 576, 1024);
    let a = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &device);
    let gemm = median_seconds(repeats, || {
        let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    });
    let shape = ConvShape {
        input: 64,
        output: 64,
        kernel: 3,
        stride: 1,
        edge: 32,
    };
    let layer = conv(&shape, &device);
    let x = Tensor::<4>::random([16, 64, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let burn = median_seconds(repeats, || wait(layer.forward(x.clone())));
    let was = kernels::enabled();
    kernels::set_enabled(true);
    let loupe = median_seconds(repeats, || wait(conv2d(&layer, x.clone())));
    let trained = conv(&shape, &device.clone().autodiff());
    let x = x.autodiff().require_grad();
    let training = median_seconds(repeats, || {
        drop(conv2d(&trained, x.clone()).sum().backward());
    });
    kernels::set_enabled(was);
    let conv_flops = 2.0 * 16.0 * 32.0 * 32.0 * 64.0 * 64.0 * 9.0;
    KernelRates {
        gemm_gflops: 2.0 * (m * k * n) as f64 / gemm / 1e9,
        conv_burn_gflops: conv_flops / burn / 1e9,
        conv_loupe_gflops: conv_flops / loupe / 1e9,
        // Forward, input gradient and kernel gradient: three products.
        conv_loupe_training_gflops: 3.0 * conv_flops / training / 1e9,
    }
}

/// The first 4-D parameter of `model` (its first convolution's kernel).
fn first_weight(model: &Classifier) -> Tensor<4> {
    struct First(Option<Tensor<4>>);
    impl burn::module::ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self.0.is_none() && D == 4 {
                let value = param.val();
                let dims = value.dims();
                self.0 = Some(value.reshape([dims[0], dims[1], dims[2], dims[3]]));
            }
        }
    }
    let mut first = First(None);
    model.visit(&mut first);
    first
        .0
        .unwrap_or_else(|| Tensor::<4>::zeros([1, 1, 1, 1], &Device::flex()))
}

fn report(
    s: &ProfileSettings,
    rows: &[Row],
    step: f64,
    listed: f64,
    params: usize,
    features: usize,
    rates: &KernelRates,
) -> anyhow::Result<()> {
    if s.json {
        let ops: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "op": r.op, "count": r.count, "ms": r.seconds * 1000.0,
                    "share": r.seconds / step,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "device": "flex (cpu)",
                "model": "resnet18",
                "input_size": s.input_size,
                "width": s.width,
                "batch": s.batch,
                "threads": s.threads,
                "parameters": params,
                "features": features,
                "step_ms": step * 1000.0,
                "listed_ms": listed * 1000.0,
                "ops": ops,
                "gemm_1024x576x1024_gflops": rates.gemm_gflops,
                "kernels": if s.loupe_kernels { "loupe" } else { "burn" },
                "matrix_simd": kernels::matrix_simd(),
                "conv3x3_64_16x32x32_forward_gflops": { "burn": rates.conv_burn_gflops, "loupe": rates.conv_loupe_gflops },
                "conv3x3_64_16x32x32_forward_backward_gflops_loupe": rates.conv_loupe_training_gflops,
            })
        );
        return Ok(());
    }
    println!(
        "Supervised step of resnet18 (width {}, {} parameters) on flex with {} kernels, batch {} at {} px, {} thread(s); each op timed alone at every shape the step runs it (median of {})",
        s.width,
        params,
        if s.loupe_kernels { "Loupe's" } else { "Burn's" },
        s.batch,
        s.input_size,
        s.threads,
        s.repeats
    );
    println!("{:<32} {:>6} {:>10} {:>8}", "op", "count", "ms", "share");
    for r in rows {
        println!(
            "{:<32} {:>6} {:>10.1} {:>7.0} %",
            r.op,
            r.count,
            r.seconds * 1000.0,
            100.0 * r.seconds / step
        );
    }
    println!(
        "{:<32} {:>6} {:>10.1} {:>7.0} %",
        "sum of the ops above",
        "",
        listed * 1000.0,
        100.0 * listed / step
    );
    println!(
        "{:<32} {:>6} {:>10.1} {:>7.0} %  ({:.1} images/s)",
        "whole step",
        "",
        step * 1000.0,
        100.0,
        s.batch as f64 / step
    );
    println!(
        "kernels: matrix products on {}; matrix product 1024×576×1024 {:.1} GFLOP/s; 3×3 convolution 64→64 on 16×64×32×32: forward by Burn {:.1} GFLOP/s, by Loupe {:.1} GFLOP/s; forward + backward by Loupe {:.1} GFLOP/s",
        kernels::matrix_simd(),
        rates.gemm_gflops,
        rates.conv_burn_gflops,
        rates.conv_loupe_gflops,
        rates.conv_loupe_training_gflops
    );
    Ok(())
}

/// Where a supervised step of the default model goes on the CPU (flex):
/// each kind of op timed alone at every shape the step runs it at.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub step: StepShape,
    /// Timed repetitions per op (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Profile with Burn's convolution instead of Loupe's CPU kernels.
    #[arg(long)]
    pub burn_kernels: bool,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run_bench(args: &ProfileArgs) -> anyhow::Result<()> {
    let ProfileArgs {
        step,
        repeats,
        threads,
        burn_kernels,
        json,
    } = args;
    let (input_size, width, batch) = step.checked()?;
    profile(&ProfileSettings {
        input_size,
        width,
        batch,
        repeats: within("--repeats", *repeats, 1..=1000)?,
        threads: threads_option(*threads)?,
        loupe_kernels: !burn_kernels,
        json: *json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listed layers are the model's: their parameters add up to its count.
    #[test]
    fn the_listed_layers_are_the_models() {
        for (input, width) in [(128, 16), (64, 8)] {
            let layers = resnet_layers(input, width);
            let conv_params: usize = layers
                .convs
                .iter()
                .map(|c| c.input * c.output * c.kernel * c.kernel)
                .sum();
            // Group norm: a scale and a shift per channel.
            let norm_params: usize = layers.norms.iter().map(|(c, _)| 2 * c).sum();
            let classes = 4;
            let head = layers.features * classes + classes;
            let model = Classifier::new(ModelKind::Resnet18, classes, width, 0.0, &Device::flex());
            assert_eq!(conv_params + norm_params + head, model.num_params());
            assert_eq!(
                layers.convs.len(),
                20,
                "stem, 16 block convolutions, 3 projections"
            );
            assert_eq!(
                layers.convs.last().map(|c| c.edge.div_ceil(c.stride)),
                Some(input / 16)
            );
        }
    }
}
