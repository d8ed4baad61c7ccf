//! `loupe bench conv3d`: every 3-D convolution of the 3-D U-Net and the
//! 3-D teacher at the demo settings, timed on Loupe's two CPU ways — the
//! matrix products (by depth taps or by whole volumes) and the direct
//! kernels — forward, input gradient and weight gradient, with which one
//! a training step takes. It is where the direct kernels' limits
//! (`kernels::direct3d`) come from, and how to check them on another CPU.

use std::time::Instant;

use crate::train::kernels::conv3d::{self, Conv3dGeometry};
use crate::train::kernels::direct3d;

use super::common::{threads_option, within};

/// One convolution of a network: where it is, its channels, input edge,
/// kernel and stride (padding `kernel / 2`), and the batch it runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
struct Layer {
    network: &'static str,
    name: &'static str,
    batch: usize,
    input: usize,
    output: usize,
    edge: usize,
    kernel: usize,
    stride: usize,
    /// A 2-D layer, taken as one-slice volumes (edge² planes).
    planar: bool,
}

const fn layer(
    network: &'static str,
    name: &'static str,
    batch: usize,
    [input, output, edge, kernel, stride]: [usize; 5],
) -> Layer {
    Layer {
        network,
        name,
        batch,
        input,
        output,
        edge,
        kernel,
        stride,
        planar: false,
    }
}

/// A 2-D layer of `network`.
const fn planar(
    network: &'static str,
    name: &'static str,
    batch: usize,
    shape: [usize; 5],
) -> Layer {
    Layer {
        planar: true,
        ..layer(network, name, batch, shape)
    }
}

/// The 3-D U-Net (4 sequences, 32³, width 8, batch 4: `bench training
/// --networks unet3d`) and the 3-D teacher (40³, width 8, batch 16:
/// `--networks i3d`), as src/train/models/unet.rs and volume3d.rs build them.
const LAYERS: [Layer; 36] = [
    layer("unet3d", "level 1 encoder a", 4, [4, 8, 32, 3, 1]),
    layer("unet3d", "level 1 encoder b", 4, [8, 8, 32, 3, 1]),
    layer("unet3d", "down 1", 4, [8, 8, 32, 3, 2]),
    layer("unet3d", "level 2 encoder a", 4, [8, 16, 16, 3, 1]),
    layer("unet3d", "level 2 encoder b", 4, [16, 16, 16, 3, 1]),
    layer("unet3d", "down 2", 4, [16, 16, 16, 3, 2]),
    layer("unet3d", "level 3 encoder a", 4, [16, 32, 8, 3, 1]),
    layer("unet3d", "level 3 encoder b", 4, [32, 32, 8, 3, 1]),
    layer("unet3d", "down 3", 4, [32, 32, 8, 3, 2]),
    layer("unet3d", "level 4 a", 4, [32, 64, 4, 3, 1]),
    layer("unet3d", "level 4 b", 4, [64, 64, 4, 3, 1]),
    layer("unet3d", "level 3 decoder a", 4, [64, 32, 8, 3, 1]),
    layer("unet3d", "level 3 decoder b", 4, [32, 32, 8, 3, 1]),
    layer("unet3d", "level 2 decoder a", 4, [32, 16, 16, 3, 1]),
    layer("unet3d", "level 2 decoder b", 4, [16, 16, 16, 3, 1]),
    layer("unet3d", "level 1 decoder a", 4, [16, 8, 32, 3, 1]),
    layer("unet3d", "level 1 decoder b", 4, [8, 8, 32, 3, 1]),
    layer("unet3d", "head", 4, [8, 4, 32, 1, 1]),
    layer("i3d", "stem", 16, [1, 8, 40, 3, 2]),
    layer("i3d", "block 1 entry", 16, [8, 16, 20, 3, 2]),
    layer("i3d", "block 1 projection", 16, [8, 16, 20, 1, 2]),
    layer("i3d", "block 1", 16, [16, 16, 10, 3, 1]),
    layer("i3d", "block 2 entry", 16, [16, 32, 10, 3, 2]),
    layer("i3d", "block 2 projection", 16, [16, 32, 10, 1, 2]),
    layer("i3d", "block 2", 16, [32, 32, 5, 3, 1]),
    planar("resnet18", "stem", 16, [3, 16, 128, 3, 2]),
    planar("resnet18", "stage 1", 16, [16, 16, 64, 3, 1]),
    planar("resnet18", "stage 2 entry", 16, [16, 32, 64, 3, 2]),
    planar("resnet18", "stage 2", 16, [32, 32, 32, 3, 1]),
    planar("resnet18", "stage 3 entry", 16, [32, 64, 32, 3, 2]),
    planar("resnet18", "stage 3", 16, [64, 64, 16, 3, 1]),
    planar("resnet18", "stage 4 entry", 16, [64, 128, 16, 3, 2]),
    planar("resnet18", "stage 4", 16, [128, 128, 8, 3, 1]),
    planar("unet2d", "level 1 encoder a", 16, [4, 8, 64, 3, 1]),
    planar("unet2d", "level 1 encoder b", 16, [8, 8, 64, 3, 1]),
    planar("unet2d", "level 2 encoder b", 16, [16, 16, 32, 3, 1]),
];

impl Layer {
    fn geometry(&self) -> anyhow::Result<Conv3dGeometry> {
        let pad = (self.kernel / 2, self.kernel / 2);
        if self.planar {
            return Ok(Conv3dGeometry::new(
                &[self.batch, self.input, 1, self.edge, self.edge],
                &[self.output, self.input, 1, self.kernel, self.kernel],
                [1, self.stride, self.stride],
                [(0, 0), pad, pad],
                [1; 3],
            )?);
        }
        Ok(Conv3dGeometry::new(
            &[self.batch, self.input, self.edge, self.edge, self.edge],
            &[
                self.output,
                self.input,
                self.kernel,
                self.kernel,
                self.kernel,
            ],
            [self.stride; 3],
            [pad; 3],
            [1; 3],
        )?)
    }
}

/// Milliseconds of one pass each way (`None` where the direct kernels
/// cannot compute it), and the way a training step takes.
#[derive(Clone, Copy, Debug, serde::Serialize)]
struct Pass {
    products_ms: f64,
    direct_ms: Option<f64>,
    direct_taken: bool,
}

impl Pass {
    fn taken_ms(&self) -> f64 {
        match (self.direct_taken, self.direct_ms) {
            (true, Some(direct)) => direct,
            _ => self.products_ms,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
struct Row {
    layer: Layer,
    /// Floating-point operations of the forward pass (2 per multiply-add);
    /// each gradient has as many.
    gflop: f64,
    forward: Pass,
    input_grad: Pass,
    weight_grad: Pass,
}

fn median_ms(repeats: usize, mut f: impl FnMut() -> Vec<f32>) -> f64 {
    std::hint::black_box(f());
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Values in [−1, 1) from a fixed stream (what is convolved does not
/// change the time; a fixed stream keeps runs alike).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = crate::rng::Rng::new(seed);
    (0..len).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect()
}

/// A pass's floating-point operations, in billions (a multiply-add is two).
fn gflop_per_pass(g: &Conv3dGeometry) -> f64 {
    g.flops() / 1e9
}

fn time_layer(layer: &Layer, repeats: usize) -> anyhow::Result<Row> {
    let g = layer.geometry()?;
    let x = values(g.in_shape().iter().product(), 1);
    let w = values(g.kernel_shape().iter().product(), 2);
    let dy = values(g.out_shape().iter().product(), 3);
    let direct = |possible: bool, f: &dyn Fn() -> Vec<f32>| possible.then(|| median_ms(repeats, f));
    Ok(Row {
        layer: *layer,
        gflop: gflop_per_pass(&g),
        forward: Pass {
            products_ms: median_ms(repeats, || conv3d::forward_by_products(&g, &x, &w)),
            direct_ms: direct(direct3d::can_forward(&g), &|| direct3d::forward(&g, &x, &w)),
            direct_taken: direct3d::takes_forward(&g),
        },
        input_grad: Pass {
            products_ms: median_ms(repeats, || conv3d::input_grad_by_products(&g, &w, &dy)),
            direct_ms: direct(direct3d::can_input_grad(&g), &|| {
                direct3d::input_grad(&g, &w, &dy)
            }),
            direct_taken: direct3d::takes_input_grad(&g),
        },
        weight_grad: Pass {
            products_ms: median_ms(repeats, || conv3d::weight_grad_by_products(&g, &x, &dy)),
            direct_ms: direct(direct3d::can_forward(&g), &|| {
                direct3d::weight_grad(&g, &x, &dy)
            }),
            direct_taken: direct3d::takes_weight_grad(&g),
        },
    })
}

/// `12.3 / 45.6*` (ms by products / direct, `*` the one taken) and GFLOP/s of the faster.
fn cell(pass: &Pass, gflop: f64) -> String {
    let mark = |taken: bool| if taken { "*" } else { "" };
    let direct = pass.direct_ms.map_or("-".to_string(), |d| {
        format!("{d:.2}{}", mark(pass.direct_taken))
    });
    format!(
        "{:.2}{} / {direct} ({:.0})",
        pass.products_ms,
        mark(!pass.direct_taken || pass.direct_ms.is_none()),
        gflop / pass.taken_ms() * 1e3
    )
}

fn print_table(rows: &[Row], threads: usize) {
    println!(
        "3-D convolutions, {threads} thread(s), {}: ms by products / direct, * the one a step \
         takes, (GFLOP/s of it)",
        crate::train::kernels::matrix_simd()
    );
    println!(
        "{:<8} {:<20} {:>5} {:>14} {:>28} {:>28} {:>28}",
        "network", "layer", "batch", "C→O edge k/s", "forward", "input gradient", "weight gradient"
    );
    for row in rows {
        let l = &row.layer;
        println!(
            "{:<8} {:<20} {:>5} {:>14} {:>28} {:>28} {:>28}",
            l.network,
            l.name,
            l.batch,
            format!(
                "{}→{} {}{} {}/{}",
                l.input,
                l.output,
                l.edge,
                if l.planar { "²" } else { "³" },
                l.kernel,
                l.stride
            ),
            cell(&row.forward, row.gflop),
            cell(&row.input_grad, row.gflop),
            cell(&row.weight_grad, row.gflop)
        );
    }
    for network in ["unet3d", "i3d"] {
        // (The 2-D rows are a sample of their networks' layers, not every one.)
        let of = rows.iter().filter(|r| r.layer.network == network);
        let products: f64 = of
            .clone()
            .map(|r| r.forward.products_ms + r.input_grad.products_ms + r.weight_grad.products_ms)
            .sum();
        let taken: f64 = of
            .map(|r| r.forward.taken_ms() + r.input_grad.taken_ms() + r.weight_grad.taken_ms())
            .sum();
        println!(
            "{network}: every convolution, forward and both gradients: {taken:.1} ms as a step \
             takes them, {products:.1} ms by products alone"
        );
    }
}

/// The 3-D networks' convolutions on Loupe's CPU kernels, each way.
#[derive(Debug, clap::Args)]
pub struct Conv3dArgs {
    /// Timed repetitions per pass (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Conv3dArgs) -> anyhow::Result<()> {
    let repeats = within("--repeats", args.repeats, 1..=1000)?;
    let threads = threads_option(args.threads)?;
    let rows = crate::train::threads::with_threads(threads, || {
        LAYERS
            .iter()
            .map(|l| time_layer(l, repeats))
            .collect::<anyhow::Result<Vec<Row>>>()
    })??;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "threads": threads,
                "matrix_simd": crate::train::kernels::matrix_simd(),
                "rows": rows,
            })
        );
    } else {
        print_table(&rows, threads);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed layer is a convolution the kernels accept, and the
    /// U-Net's list has its encoders, downsamplings, decoders and head.
    #[test]
    fn the_listed_layers_are_convolutions_of_the_networks() {
        for layer in LAYERS {
            layer.geometry().unwrap();
        }
        let unet = LAYERS.iter().filter(|l| l.network == "unet3d").count();
        let two_d = |l: &Layer| l.network == "resnet18" || l.network == "unet2d";
        assert!(LAYERS.iter().all(|l| l.planar == two_d(l)));
        // 4 encoder blocks and 3 decoder blocks of 2, 3 downsamplings, the head.
        assert_eq!(unet, 4 * 2 + 3 * 2 + 3 + 1);
    }

    /// GFLOP/s count a multiply-add as two operations, once: the ResNet's
    /// stage 3 is 16 images × 64 outputs × 64 inputs × 9 taps × 16² voxels
    /// = 150 994 944 multiply-adds, 0.302 GFLOP a pass.
    #[test]
    fn a_layer_counts_two_operations_per_multiply_add() {
        let stage_3 = LAYERS
            .iter()
            .find(|l| l.network == "resnet18" && l.name == "stage 3")
            .expect("the ResNet's stage 3");
        let gflop = gflop_per_pass(&stage_3.geometry().unwrap());
        assert!((gflop - 2.0 * 150_994_944.0 / 1e9).abs() < 1e-12, "{gflop}");
    }

    #[test]
    fn a_pass_reports_the_way_taken() {
        let pass = Pass {
            products_ms: 4.0,
            direct_ms: Some(1.0),
            direct_taken: true,
        };
        assert_eq!(pass.taken_ms(), 1.0);
        assert_eq!(cell(&pass, 0.004), "4.00 / 1.00* (4)");
        let not_taken = Pass {
            direct_taken: false,
            ..pass
        };
        assert_eq!(cell(&not_taken, 0.004), "4.00* / 1.00 (1)");
    }
}
