//! Loupe's own CPU kernels, plugged into Burn through its backend-extension
//! mechanism: [`CpuKernels`] is a backend extension trait implemented for
//! `flex` (the fast kernels of [`conv`]) and for `Autodiff<B>` (a
//! hand-written backward that calls the inner backend's gradient kernels).
//! The trait's default bodies are Burn's own composed operations, so any
//! other backend keeps them, and the tests compare the two.
//!
//! Models call [`conv2d`] instead of `Conv2d::forward`: it takes the fast
//! path for `f32` tensors on the `flex` device with an ungrouped kernel and
//! explicit padding, and Burn's convolution otherwise (the wgpu device keeps
//! Burn's kernels). [`set_enabled`] (or `LOUPE_CPU_KERNELS=burn`) turns the
//! fast path off, for benchmarks that set the two side by side.

pub mod augment;
pub mod conv;
pub mod conv3d;
pub mod cpu_features;
pub mod direct3d;
pub mod geometry3d;
pub mod group_norm;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, TensorMetadata, backend_extension};
use burn::nn::GroupNorm;
use burn::nn::conv::{Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d};
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};

use crate::train::phases::kernel;
use conv::ConvGeometry;
use conv3d::Conv3dGeometry;
use group_norm::GroupShape;

/// The widest vector instructions the matrix products (gemm, Loupe's and
/// Burn's flex) use on this CPU. gemm is built with every x86-64 level up
/// to AVX-512 (its `x86-v4` feature) and picks one per call from what the
/// CPU reports at run time, so one binary runs on any x86-64 and uses what
/// it has; this asks the CPU the same questions in the same order.
pub fn matrix_simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512 (x86-64-v4)";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "AVX2 + FMA (x86-64-v3)";
        }
        "SSE2 (x86-64 baseline)"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// Convolution kernels a backend may replace. The default bodies are
/// Burn's own operations.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// 2-D convolution without bias: `x` `[N, C, H, W]`, `weight` `[O, C, kh, kw]`.
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// Gradient of [`CpuKernels::gemm_conv2d`] with respect to `x`.
    fn gemm_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// Gradient of [`CpuKernels::gemm_conv2d`] with respect to `weight`.
    fn gemm_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// 3-D convolution without bias: `x` `[N, C, D, H, W]`, `weight` `[O, C, kd, kh, kw]`.
    fn gemm_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d(x, weight, None, options)
    }

    /// Gradient of [`CpuKernels::gemm_conv3d`] with respect to `x`.
    fn gemm_conv3d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_x_backward(x, weight, output_grad, options)
    }

    /// Gradient of [`CpuKernels::gemm_conv3d`] with respect to `weight`.
    fn gemm_conv3d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_weight_backward(x, weight, output_grad, options)
    }

    /// Group normalisation with per-channel scale `gamma` and shift `beta`
    /// over `[N, C, …]`, rectified with `relu`; see
    /// [`group_norm`](mod@group_norm) for the formulas.
    fn fused_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// The image perturbation of `train::augment` in one pass: `images`
    /// `[B, C, H, W]`, `draws` `[B, 8]` (see [`augment::DRAW_VALUES`]).
    /// Not differentiated: images are inputs.
    fn fused_augment(images: FloatTensor<Self>, draws: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Gradients of [`CpuKernels::fused_group_norm`]: `(dx, dγ, dβ)`.
    fn fused_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The geometry of a `flex` convolution, when the fast kernels can run it.
fn flex_geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    ConvGeometry::new(
        x.shape().as_slice(),
        weight.shape().as_slice(),
        options.stride,
        options.padding,
        options.dilation,
    )
    .ok()
}

/// The geometry of a `flex` 3-D convolution, when the fast kernels can run it.
fn flex_geometry_3d(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<3>,
) -> Option<Conv3dGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    Conv3dGeometry::new(
        x.shape().as_slice(),
        weight.shape().as_slice(),
        options.stride,
        options.padding,
        options.dilation,
    )
    .ok()
}

/// The tensor's values in row-major order (copied only when strided).
fn contiguous(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => std::borrow::Cow::Borrowed(values),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .map_or_else(Vec::new, <[f32]>::to_vec),
        ),
    }
}

fn flex_values(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The group shape of a `flex` normalisation, when the fused kernel can run it.
fn flex_group_shape(x: &FlexTensor, gamma: &FlexTensor, groups: usize) -> Option<GroupShape> {
    if x.dtype() != DType::F32 || gamma.dtype() != DType::F32 {
        return None;
    }
    GroupShape::new(x.shape().as_slice(), groups)
        .filter(|s| gamma.shape().num_elements() == s.channels)
}

/// [`group_norm`] (the function) checks the shapes before calling the
/// fused kernel, so this is reached only by a caller that skips that check:
/// a programming error, not bad input.
fn refuse_group_norm(x: &FlexTensor, groups: usize) -> ! {
    panic!(
        "fused group norm: {:?} ({:?}) cannot be split into {groups} groups",
        x.shape(),
        x.dtype()
    )
}

/// Forward convolutions, normalisations and augmentations run by Loupe's
/// kernels in this process (tests check the fast path was taken).
static FAST_CALLS: AtomicUsize = AtomicUsize::new(0);

/// How many forward passes Loupe's kernels have run so far.
pub fn fast_calls() -> usize {
    FAST_CALLS.load(Ordering::Relaxed)
}

impl CpuKernels for Flex {
    fn fused_augment(images: FlexTensor, draws: FlexTensor) -> FlexTensor {
        let shape = images.shape();
        let dims: [usize; 4] = match shape.as_slice() {
            &[b, c, h, w] => [b, c, h, w],
            other => panic!("fused augmentation: images must be [B, C, H, W], got {other:?}"),
        };
        FAST_CALLS.fetch_add(1, Ordering::Relaxed);
        let draws: Vec<augment::ImageDraw> = contiguous(&draws)
            .chunks(augment::DRAW_VALUES)
            .map(augment::ImageDraw::from_values)
            .collect();
        let out = kernel("augmentation", || {
            augment::apply(&contiguous(&images), dims, &draws)
        });
        flex_values(out, shape)
    }

    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = flex_geometry(&x, &weight, &options) else {
            return Self::conv2d(x, weight, None, options);
        };
        FAST_CALLS.fetch_add(1, Ordering::Relaxed);
        let volumes = direct3d::as_volumes(&g);
        let out = kernel("conv2d forward", || {
            let (x, weight) = (contiguous(&x), contiguous(&weight));
            if direct3d::takes_forward(&volumes) {
                direct3d::forward(&volumes, &x, &weight)
            } else {
                conv::forward(&g, &x, &weight)
            }
        });
        flex_values(out, [g.batch, g.out_channels, g.out_h, g.out_w])
    }

    fn gemm_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        match flex_geometry(&x, &weight, &options) {
            Some(g) if output_grad.dtype() == DType::F32 => {
                let volumes = direct3d::as_volumes(&g);
                let dx = kernel("conv2d input gradient", || {
                    let (weight, output_grad) = (contiguous(&weight), contiguous(&output_grad));
                    if direct3d::takes_input_grad(&volumes) {
                        direct3d::input_grad(&volumes, &weight, &output_grad)
                    } else {
                        conv::input_grad(&g, &weight, &output_grad)
                    }
                });
                flex_values(dx, [g.batch, g.in_channels, g.in_h, g.in_w])
            }
            _ => Self::conv2d_x_backward(x, weight, output_grad, options),
        }
    }

    fn gemm_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        match flex_geometry(&x, &weight, &options) {
            Some(g) if output_grad.dtype() == DType::F32 => {
                let volumes = direct3d::as_volumes(&g);
                let dw = kernel("conv2d weight gradient", || {
                    let (x, output_grad) = (contiguous(&x), contiguous(&output_grad));
                    if direct3d::takes_weight_grad(&volumes) {
                        direct3d::weight_grad(&volumes, &x, &output_grad)
                    } else {
                        conv::weight_grad(&g, &x, &output_grad)
                    }
                });
                flex_values(dw, [g.out_channels, g.in_channels, g.kernel_h, g.kernel_w])
            }
            _ => Self::conv2d_weight_backward(x, weight, output_grad, options),
        }
    }

    fn gemm_conv3d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<3>) -> FlexTensor {
        let Some(g) = flex_geometry_3d(&x, &weight, &options) else {
            return Self::conv3d(x, weight, None, options);
        };
        FAST_CALLS.fetch_add(1, Ordering::Relaxed);
        let out = kernel("conv3d forward", || {
            conv3d::forward(&g, &contiguous(&x), &contiguous(&weight))
        });
        flex_values(out, g.out_shape())
    }

    fn gemm_conv3d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<3>,
    ) -> FlexTensor {
        match flex_geometry_3d(&x, &weight, &options) {
            Some(g) if output_grad.dtype() == DType::F32 => {
                let dx = kernel("conv3d input gradient", || {
                    conv3d::input_grad(&g, &contiguous(&weight), &contiguous(&output_grad))
                });
                flex_values(dx, g.in_shape())
            }
            _ => Self::conv3d_x_backward(x, weight, output_grad, options),
        }
    }

    fn gemm_conv3d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<3>,
    ) -> FlexTensor {
        match flex_geometry_3d(&x, &weight, &options) {
            Some(g) if output_grad.dtype() == DType::F32 => {
                let dw = kernel("conv3d weight gradient", || {
                    conv3d::weight_grad(&g, &contiguous(&x), &contiguous(&output_grad))
                });
                flex_values(dw, g.kernel_shape())
            }
            _ => Self::conv3d_weight_backward(x, weight, output_grad, options),
        }
    }

    fn fused_group_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let Some(shape) = flex_group_shape(&x, &gamma, groups) else {
            refuse_group_norm(&x, groups)
        };
        FAST_CALLS.fetch_add(1, Ordering::Relaxed);
        let y = kernel("group norm forward", || {
            group_norm::forward(
                &shape,
                &contiguous(&x),
                &contiguous(&gamma),
                &contiguous(&beta),
                epsilon,
                relu,
            )
        });
        flex_values(y, x.shape())
    }

    fn fused_group_norm_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        output_grad: FlexTensor,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let Some(shape) = flex_group_shape(&x, &gamma, groups) else {
            refuse_group_norm(&x, groups)
        };
        let beta = relu.then(|| contiguous(&beta));
        let (dx, dgamma, dbeta) = kernel("group norm backward", || {
            group_norm::backward(
                &shape,
                &contiguous(&x),
                &contiguous(&gamma),
                beta.as_deref(),
                &contiguous(&output_grad),
                epsilon,
            )
        });
        (
            flex_values(dx, x.shape()),
            flex_values(dgamma, gamma.shape()),
            flex_values(dbeta, gamma.shape()),
        )
    }
}

/// What differs between the 2-D and 3-D convolutions in the autodiff graph:
/// the inner backend's kernels they run, chosen by their options' type.
trait GemmConv<B: CpuKernels>: Clone + Send + std::fmt::Debug + 'static {
    fn forward(x: FloatTensor<B>, weight: FloatTensor<B>, options: Self) -> FloatTensor<B>;
    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B>;
    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B>;
}

impl<B: CpuKernels> GemmConv<B> for ConvOptions<2> {
    fn forward(x: FloatTensor<B>, weight: FloatTensor<B>, options: Self) -> FloatTensor<B> {
        B::gemm_conv2d(x, weight, options)
    }
    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B> {
        B::gemm_conv2d_x_backward(x, weight, output_grad, options)
    }
    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B> {
        B::gemm_conv2d_weight_backward(x, weight, output_grad, options)
    }
}

impl<B: CpuKernels> GemmConv<B> for ConvOptions<3> {
    fn forward(x: FloatTensor<B>, weight: FloatTensor<B>, options: Self) -> FloatTensor<B> {
        B::gemm_conv3d(x, weight, options)
    }
    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B> {
        B::gemm_conv3d_x_backward(x, weight, output_grad, options)
    }
    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self,
    ) -> FloatTensor<B> {
        B::gemm_conv3d_weight_backward(x, weight, output_grad, options)
    }
}

/// The backward step of [`CpuKernels::gemm_conv2d`] and
/// [`CpuKernels::gemm_conv3d`] in the autodiff graph.
#[derive(Debug)]
struct GemmConvBackward<O>(std::marker::PhantomData<O>);

impl<B: Backend + CpuKernels, O: GemmConv<B>> Backward<B, 2> for GemmConvBackward<O> {
    type State = (NodeId, NodeId, O);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            let dx = O::x_backward(
                x.clone(),
                weight.clone(),
                output_grad.clone(),
                options.clone(),
            );
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = O::weight_backward(x, weight, output_grad, options);
            grads.register::<B>(node.id, dw);
        }
    }
}

/// A convolution on the autodiff backend: the inner backend's forward,
/// with [`GemmConvBackward`] recorded where a gradient is needed.
fn tracked_conv<B, C, O>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    options: O,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend + CpuKernels,
    C: CheckpointStrategy,
    O: GemmConv<B>,
{
    match GemmConvBackward::<O>(std::marker::PhantomData)
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let output = O::forward(x.into_primitive(), weight.into_primitive(), options.clone());
            prep.finish((x_state, weight_state, options), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(O::forward(
            x.into_primitive(),
            weight.into_primitive(),
            options,
        )),
    }
}

impl<B: Backend + CpuKernels, C: CheckpointStrategy> CpuKernels for Autodiff<B, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        tracked_conv::<B, C, _>(x, weight, options)
    }

    fn gemm_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        tracked_conv::<B, C, _>(x, weight, options)
    }

    fn fused_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        match GroupNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta_state = prep.checkpoint(&beta);
                let output = B::fused_group_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    groups,
                    epsilon,
                    relu,
                );
                let shape = GroupNormShape {
                    groups,
                    epsilon,
                    relu,
                };
                prep.finish((x_state, gamma_state, beta_state, shape), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_group_norm(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                groups,
                epsilon,
                relu,
            )),
        }
    }

    /// A constant: [`fused_augment`] (the function) is only called on
    /// images that need no gradient.
    fn fused_augment(images: FloatTensor<Self>, draws: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::fused_augment(
            images.into_primitive(),
            draws.into_primitive(),
        ))
    }

    /// The inner backend's gradients, as constants: the fused kernels are
    /// differentiated once, not twice.
    fn fused_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dgamma, dbeta) = B::fused_group_norm_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            output_grad.into_primitive(),
            groups,
            epsilon,
            relu,
        );
        (
            FloatTensor::<Self>::new(dx),
            FloatTensor::<Self>::new(dgamma),
            FloatTensor::<Self>::new(dbeta),
        )
    }
}

/// The backward step of [`CpuKernels::fused_group_norm`] in the autodiff graph.
#[derive(Debug)]
struct GroupNormBackward;

/// The options of one fused group normalisation, kept for its backward step.
#[derive(Clone, Copy, Debug)]
struct GroupNormShape {
    groups: usize,
    epsilon: f64,
    relu: bool,
}

impl<B: Backend + CpuKernels> Backward<B, 3> for GroupNormBackward {
    type State = (NodeId, NodeId, NodeId, GroupNormShape);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, beta_state, shape) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
        let beta = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(beta_state);
        let (dx, dgamma, dbeta) = B::fused_group_norm_backward(
            x,
            gamma,
            beta,
            output_grad,
            shape.groups,
            shape.epsilon,
            shape.relu,
        );
        for (node, grad) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

const UNDECIDED: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static ENABLED: AtomicU8 = AtomicU8::new(UNDECIDED);

thread_local! {
    /// This thread's choice, over the process's (see [`with_kernels`]).
    static THREAD_CHOICE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `work` with Loupe's kernels on or off for this thread only (tests
/// that compare the two while other tests run).
pub fn with_kernels<R>(on: bool, work: impl FnOnce() -> R) -> R {
    let before = THREAD_CHOICE.with(|c| c.replace(Some(on)));
    let result = work();
    THREAD_CHOICE.with(|c| c.set(before));
    result
}

/// Whether [`conv2d`], [`group_norm()`] and [`fused_augment_applies`] may take
/// Loupe's CPU kernels: on unless `LOUPE_CPU_KERNELS=burn`,
/// [`set_enabled`]`(false)` or [`with_kernels`]`(false, …)`.
pub fn enabled() -> bool {
    if let Some(on) = THREAD_CHOICE.with(std::cell::Cell::get) {
        return on;
    }
    match ENABLED.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var("LOUPE_CPU_KERNELS").map_or(true, |v| v != "burn");
            ENABLED.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// Turns Loupe's CPU kernels on or off for the whole process (benchmarks).
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

fn on_flex(device: &burn::tensor::Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Whether a convolution of `groups` groups on `x` may take Loupe's
/// kernels: ungrouped, `f32`, on `flex`, with the kernels on.
fn convolution_fast_path<const D: usize>(x: &Tensor<D>, groups: usize) -> bool {
    groups == 1 && x.dtype() == DType::F32 && enabled() && on_flex(&x.device())
}

/// `conv.forward(x)`, on Loupe's kernels where they apply.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return conv.forward(x),
    };
    if !convolution_fast_path(&x, conv.groups) {
        return conv.forward(x);
    }
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, 1);
    let out = <Dispatch as CpuKernels>::gemm_conv2d(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        options,
    );
    let out = Tensor::<4>::from_dispatch(out);
    match &conv.bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            out + bias.val().reshape([1, channels, 1, 1])
        }
        None => out,
    }
}

/// `conv.forward(x)` for a 3-D convolution, on Loupe's kernels where they
/// apply (the same conditions as [`conv2d`]).
pub fn conv3d(conv: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    let padding = match conv.padding {
        PaddingConfig3d::Valid => [(0, 0); 3],
        PaddingConfig3d::Explicit(d, h, w) => [(d, d), (h, h), (w, w)],
        PaddingConfig3d::Same => return conv.forward(x),
    };
    if !convolution_fast_path(&x, conv.groups) {
        return conv.forward(x);
    }
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, 1);
    let out = <Dispatch as CpuKernels>::gemm_conv3d(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        options,
    );
    let out = Tensor::<5>::from_dispatch(out);
    match &conv.bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            out + bias.val().reshape([1, channels, 1, 1, 1])
        }
        None => out,
    }
}

/// `up.forward(x)` for a 2-D transposed convolution whose kernel tiles its
/// output (kernel = stride, no padding or dilation: the U-Net's 2×
/// upsampling), on Loupe's kernels where they apply: every input pixel
/// spreads over its own `kh × kw` block of output pixels, so the whole
/// operation is one pointwise convolution to `O · kh · kw` channels (a plain
/// matrix product, [`conv2d`]'s pointwise path) and a reshuffle of those
/// channels into the blocks. Burn differentiates the reshuffle; Loupe's
/// kernel the product — its backward was 40 % faster than Burn's
/// transposed convolution's at the 3-D U-Net's first level.
pub fn conv_transpose2d(up: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [kh, kw] = up.kernel_size;
    if !tiles_output(
        &up.stride,
        &up.kernel_size,
        &up.padding,
        &up.padding_out,
        &up.dilation,
    ) || !convolution_fast_path(&x, up.groups)
    {
        return up.forward(x);
    }
    let [batch, channels_in, h, w] = x.dims();
    let channels_out = up.weight.dims()[1];
    let weight =
        up.weight
            .val()
            .permute([1, 2, 3, 0])
            .reshape([channels_out * kh * kw, channels_in, 1, 1]);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let taps = Tensor::<4>::from_dispatch(<Dispatch as CpuKernels>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    let out = taps
        .reshape([batch, channels_out, kh, kw, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([batch, channels_out, h * kh, w * kw]);
    match &up.bias {
        Some(bias) => out + bias.val().reshape([1, channels_out, 1, 1]),
        None => out,
    }
}

/// [`conv_transpose2d`] for a 3-D transposed convolution.
pub fn conv_transpose3d(up: &ConvTranspose3d, x: Tensor<5>) -> Tensor<5> {
    let [kd, kh, kw] = up.kernel_size;
    if !tiles_output(
        &up.stride,
        &up.kernel_size,
        &up.padding,
        &up.padding_out,
        &up.dilation,
    ) || !convolution_fast_path(&x, up.groups)
    {
        return up.forward(x);
    }
    let [batch, channels_in, d, h, w] = x.dims();
    let channels_out = up.weight.dims()[1];
    let weight = up.weight.val().permute([1, 2, 3, 4, 0]).reshape([
        channels_out * kd * kh * kw,
        channels_in,
        1,
        1,
        1,
    ]);
    let options = ConvOptions::new([1, 1, 1], [0, 0, 0], [1, 1, 1], 1);
    let taps = Tensor::<5>::from_dispatch(<Dispatch as CpuKernels>::gemm_conv3d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    let out = taps
        .reshape([batch, channels_out, kd, kh, kw, d, h, w])
        .permute([0, 1, 5, 2, 6, 3, 7, 4])
        .reshape([batch, channels_out, d * kd, h * kh, w * kw]);
    match &up.bias {
        Some(bias) => out + bias.val().reshape([1, channels_out, 1, 1, 1]),
        None => out,
    }
}

/// Whether a transposed convolution's kernel blocks tile its output
/// exactly: stride = kernel, no padding, no dilation.
fn tiles_output(
    stride: &[usize],
    kernel: &[usize],
    padding: &[usize],
    padding_out: &[usize],
    dilation: &[usize],
) -> bool {
    stride == kernel
        && padding.iter().all(|&p| p == 0)
        && padding_out.iter().all(|&p| p == 0)
        && dilation.iter().all(|&d| d == 1)
}

/// `norm.forward(x)`, by the fused kernel where it applies (`f32` on the
/// `flex` device, with learned scale and shift).
pub fn group_norm<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    normalise(norm, x, false)
}

/// `relu(norm.forward(x))`, the rectifier fused into the kernel where it
/// applies (see [`group_norm()`]).
pub fn group_norm_relu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    normalise(norm, x, true)
}

fn normalise<const D: usize>(norm: &GroupNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    let burns = |x: Tensor<D>| {
        let y = norm.forward(x);
        if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        }
    };
    let (Some(gamma), Some(beta)) = (&norm.gamma, &norm.beta) else {
        return burns(x);
    };
    let dims = x.dims();
    let fits = D >= 3
        && dims[1] == norm.num_channels
        && GroupShape::new(&dims, norm.num_groups).is_some()
        && gamma.dims()[0] == norm.num_channels;
    if !fits || !norm.affine || x.dtype() != DType::F32 || !enabled() || !on_flex(&x.device()) {
        return burns(x);
    }
    let y = <Dispatch as CpuKernels>::fused_group_norm(
        x.into_dispatch(),
        gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        norm.num_groups,
        norm.epsilon,
        relu,
    );
    Tensor::<D>::from_dispatch(y)
}

/// Whether [`fused_augment`] can perturb `images`: `f32` on the `flex`
/// device, needing no gradient.
pub fn fused_augment_applies(images: &Tensor<4>) -> bool {
    images.dtype() == DType::F32
        && !images.is_require_grad()
        && enabled()
        && on_flex(&images.device())
}

/// The perturbation of `train::augment` by one pass (callers check
/// [`fused_augment_applies`] first): `draws` `[B, 8]`.
pub fn fused_augment(images: Tensor<4>, draws: Tensor<2>) -> Tensor<4> {
    Tensor::<4>::from_dispatch(<Dispatch as CpuKernels>::fused_augment(
        images.into_dispatch(),
        draws.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    /// The same convolution through [`conv2d`] (Loupe's kernels and
    /// hand-written backward) and through `Conv2d::forward` (Burn's):
    /// outputs and the gradients of x, the kernel and the bias agree within
    /// 1e-4 relative.
    fn compare(config: Conv2dConfig, x_shape: [usize; 4]) {
        let device = Device::flex().autodiff();
        device.seed(7);
        let conv = config.init(&device);
        compare_convolutions(
            x_shape,
            &conv.weight,
            conv.bias.as_ref(),
            |x| conv2d(&conv, x),
            |x| conv.forward(x),
        );
    }

    /// [`compare`] for [`conv3d`] against `Conv3d::forward`.
    fn compare_3d(config: burn::nn::conv::Conv3dConfig, x_shape: [usize; 5]) {
        let device = Device::flex().autodiff();
        device.seed(7);
        let conv = config.init(&device);
        compare_convolutions(
            x_shape,
            &conv.weight,
            conv.bias.as_ref(),
            |x| conv3d(&conv, x),
            |x| conv.forward(x),
        );
    }

    /// Runs `fast` (which must reach Loupe's kernels) and `burn` on the same
    /// input and loss and compares the outputs and gradients.
    fn compare_convolutions<const D: usize>(
        x_shape: [usize; D],
        weight: &burn::module::Param<Tensor<D>>,
        bias: Option<&burn::module::Param<Tensor<1>>>,
        fast: impl Fn(Tensor<D>) -> Tensor<D>,
        burn: impl Fn(Tensor<D>) -> Tensor<D>,
    ) {
        let device = Device::flex().autodiff();
        let x =
            Tensor::<D>::random(x_shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let target = {
            let y = burn(x.clone().detach());
            Tensor::<D>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device)
        };
        let run = |forward: &dyn Fn(Tensor<D>) -> Tensor<D>| {
            let x = x.clone().detach().require_grad();
            let y = forward(x.clone());
            // A loss whose gradient is not constant, so dY differs per element.
            let loss = (y.clone() * target.clone() + y.clone() * y.clone() * 0.5).sum();
            let grads = loss.backward();
            let grad_x = x.grad(&grads).expect("x gradient");
            let grad_w = weight.val().grad(&grads).expect("kernel gradient");
            let grad_b = bias.map(|b| b.val().grad(&grads).expect("bias gradient"));
            (
                y.into_data(),
                grad_x.into_data(),
                grad_w.into_data(),
                grad_b.map(|b| b.into_data()),
            )
        };
        let before = fast_calls();
        let fast = run(&fast);
        assert!(fast_calls() > before, "Loupe's kernel was not used");
        let burn = run(&burn);
        let close = |a: &TensorData, b: &TensorData, what: &str| {
            let (a, b) = (
                a.try_to_vec::<f32>().expect("f32"),
                b.try_to_vec::<f32>().expect("f32"),
            );
            assert_eq!(a.len(), b.len(), "{what}: sizes");
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-4 * scale,
                    "{what}[{i}]: Loupe {p} vs Burn {q} (scale {scale})"
                );
            }
        };
        close(&fast.0, &burn.0, "output");
        close(&fast.1, &burn.1, "input gradient");
        close(&fast.2, &burn.2, "kernel gradient");
        if let (Some(a), Some(b)) = (&fast.3, &burn.3) {
            close(a, b, "bias gradient");
        }
    }

    /// The U-Nets' upsampling (2×2(×2) at stride 2, with bias) and an
    /// uneven 3×2 one, through the pointwise route against Burn's
    /// transposed convolutions: outputs and gradients.
    #[test]
    fn tiled_transposed_convolutions_match_burns() {
        use burn::nn::conv::{ConvTranspose2dConfig, ConvTranspose3dConfig};
        for (kernel, shape) in [([2, 2], [2, 6, 5, 4]), ([3, 2], [3, 4, 3, 5])] {
            let device = Device::flex().autodiff();
            device.seed(5);
            let up = ConvTranspose2dConfig::new([shape[1], 3], kernel)
                .with_stride(kernel)
                .init(&device);
            compare_convolutions(
                shape,
                &up.weight,
                up.bias.as_ref(),
                |x| conv_transpose2d(&up, x),
                |x| up.forward(x),
            );
        }
        let device = Device::flex().autodiff();
        device.seed(6);
        let up = ConvTranspose3dConfig::new([4, 3], [2, 2, 2])
            .with_stride([2, 2, 2])
            .init(&device);
        compare_convolutions(
            [2, 4, 3, 4, 5],
            &up.weight,
            up.bias.as_ref(),
            |x| conv_transpose3d(&up, x),
            |x| up.forward(x),
        );
    }

    /// The 3-D teacher's and the 3-D U-Net's convolutions: 3×3×3 pad 1 at
    /// stride 1 and 2, the strided 1×1×1 projection, the head with bias, and
    /// a rectangular volume with per-axis strides, padding and dilation.
    #[test]
    fn the_3d_kernels_match_burns_convolution_and_its_gradients() {
        use burn::nn::PaddingConfig3d::Explicit;
        use burn::nn::conv::Conv3dConfig;
        compare_3d(
            Conv3dConfig::new([3, 4], [3, 3, 3])
                .with_padding(Explicit(1, 1, 1))
                .with_bias(false),
            [2, 3, 6, 5, 7],
        );
        compare_3d(
            Conv3dConfig::new([2, 4], [3, 3, 3])
                .with_stride([2, 2, 2])
                .with_padding(Explicit(1, 1, 1))
                .with_bias(false),
            [2, 2, 9, 8, 8],
        );
        compare_3d(
            Conv3dConfig::new([4, 6], [1, 1, 1])
                .with_stride([2, 2, 2])
                .with_bias(false),
            [2, 4, 6, 6, 6],
        );
        compare_3d(Conv3dConfig::new([4, 3], [1, 1, 1]), [2, 4, 4, 4, 4]);
        compare_3d(
            Conv3dConfig::new([2, 3], [3, 2, 3])
                .with_stride([1, 2, 1])
                .with_dilation([2, 1, 1])
                .with_padding(Explicit(2, 0, 1)),
            [2, 2, 7, 6, 6],
        );
    }

    #[test]
    fn the_kernels_match_burns_convolution_and_its_gradients() {
        use burn::nn::PaddingConfig2d::Explicit;
        // ResNet: 3×3 pad 1 at stride 1 and 2, the stride-2 projection, the stem.
        compare(
            Conv2dConfig::new([4, 6], [3, 3])
                .with_padding(Explicit(1, 1, 1, 1))
                .with_bias(false),
            [3, 4, 10, 10],
        );
        compare(
            Conv2dConfig::new([4, 8], [3, 3])
                .with_stride([2, 2])
                .with_padding(Explicit(1, 1, 1, 1))
                .with_bias(false),
            [2, 4, 9, 9],
        );
        compare(
            Conv2dConfig::new([4, 8], [1, 1])
                .with_stride([2, 2])
                .with_bias(false),
            [2, 4, 8, 8],
        );
        // DenseNet's 7×7 stem, a pointwise layer with bias, asymmetric padding and dilation.
        compare(
            Conv2dConfig::new([3, 4], [7, 7])
                .with_stride([2, 2])
                .with_padding(Explicit(3, 3, 3, 3)),
            [2, 3, 16, 16],
        );
        compare(Conv2dConfig::new([6, 5], [1, 1]), [3, 6, 5, 7]);
        compare(
            Conv2dConfig::new([2, 3], [3, 2])
                .with_stride([1, 2])
                .with_dilation([2, 1])
                .with_padding(Explicit(0, 1, 2, 0)),
            [2, 2, 7, 6],
        );
    }

    /// Group normalisation through [`group_norm`] and [`group_norm_relu`]
    /// and through Burn's `GroupNorm` (and ReLU): outputs and the gradients
    /// of x, γ and β within 1e-4 relative, on images and volumes, one group
    /// and several.
    #[test]
    fn the_fused_group_norm_matches_burns_and_its_gradients() {
        use burn::nn::GroupNormConfig;
        let device = Device::flex().autodiff();
        device.seed(3);
        for (groups, channels, dims) in [
            (8, 16, vec![3, 16, 6, 5]),
            (1, 4, vec![2, 4, 3, 3]),
            (2, 6, vec![2, 6, 3, 4, 2]),
        ] {
            let mut norm = GroupNormConfig::new(groups, channels).init(&device);
            // Non-trivial γ and β, so their roles are checked.
            norm.gamma = Some(burn::module::Param::from_tensor(Tensor::<1>::random(
                [channels],
                Distribution::Normal(1.0, 0.5),
                &device,
            )));
            norm.beta = Some(burn::module::Param::from_tensor(Tensor::<1>::random(
                [channels],
                Distribution::Normal(0.0, 0.5),
                &device,
            )));
            let check = |values: Vec<Vec<f32>>, reference: Vec<Vec<f32>>| {
                for (what, (a, b)) in ["output", "dx", "dγ", "dβ"]
                    .iter()
                    .zip(values.iter().zip(&reference))
                {
                    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
                    for (i, (p, q)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (p - q).abs() <= 1e-4 * scale,
                            "{groups} groups, {what}[{i}]: {p} vs {q}"
                        );
                    }
                }
            };
            macro_rules! run {
                ($d:literal, $relu:expr) => {{
                    let shape: [usize; $d] = dims.clone().try_into().expect("rank");
                    let x = Tensor::<$d>::random(shape, Distribution::Normal(2.0, 3.0), &device);
                    let target =
                        Tensor::<$d>::random(shape, Distribution::Normal(0.0, 1.0), &device);
                    let mut results = Vec::new();
                    for fast in [true, false] {
                        let x = x.clone().detach().require_grad();
                        let before = fast_calls();
                        let y = match (fast, $relu) {
                            (true, false) => group_norm(&norm, x.clone()),
                            (true, true) => group_norm_relu(&norm, x.clone()),
                            (false, false) => norm.forward(x.clone()),
                            (false, true) => {
                                burn::tensor::activation::relu(norm.forward(x.clone()))
                            }
                        };
                        if fast {
                            assert!(fast_calls() > before, "the fused kernel was not used");
                        }
                        let loss = (y.clone() * target.clone() + y.clone() * y.clone() * 0.5).sum();
                        let grads = loss.backward();
                        let vec = |t: TensorData| t.try_to_vec::<f32>().expect("f32");
                        results.push(vec![
                            vec(y.into_data()),
                            vec(x.grad(&grads).expect("dx").into_data()),
                            vec(norm
                                .gamma
                                .as_ref()
                                .expect("γ")
                                .val()
                                .grad(&grads)
                                .expect("dγ")
                                .into_data()),
                            vec(norm
                                .beta
                                .as_ref()
                                .expect("β")
                                .val()
                                .grad(&grads)
                                .expect("dβ")
                                .into_data()),
                        ]);
                    }
                    let reference = results.pop().expect("Burn's");
                    check(results.pop().expect("Loupe's"), reference);
                }};
            }
            // Without the rectifier and with it fused (x ~ N(2, 3) and β
            // around 0: a good share of the outputs is cut to zero).
            for relu in [false, true] {
                if dims.len() == 4 {
                    run!(4, relu)
                } else {
                    run!(5, relu)
                }
            }
        }
    }

    /// Every image network the trainers build gives the same loss (1e-3
    /// relative) and gradients (1e-2 relative, as one vector: errors add up
    /// over twenty-odd layers) on Loupe's kernels as on Burn's.
    #[test]
    fn whole_networks_train_alike_on_either_kernels() {
        use crate::train::models::{Classifier, ModelKind};
        let device = Device::flex().autodiff();
        for kind in [
            ModelKind::Resnet18,
            ModelKind::Densenet121,
            ModelKind::XceptionDd,
        ] {
            device.seed(5);
            let model = Classifier::new(kind, 3, 4, 0.0, &device);
            let images =
                Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
            let labels = Tensor::<1, burn::tensor::Int>::from_data(
                TensorData::new(vec![0i64, 2], [2]),
                &device,
            );
            let run = |on: bool| {
                with_kernels(on, || {
                    let before = fast_calls();
                    let (logits, _) = model.forward(images.clone());
                    // (Other tests may run kernels meanwhile: only "on" can be checked.)
                    if on {
                        assert!(fast_calls() > before, "{kind:?}: Loupe's kernels not used");
                    }
                    let loss = crate::train::losses::cross_entropy(logits, labels.clone());
                    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
                    let value = loss.into_scalar::<f32>();
                    // Every parameter's gradient, flattened in visiting order.
                    struct Collect<'a>(&'a burn::optim::GradientsParams, Vec<f32>);
                    impl burn::module::ModuleVisitor for Collect<'_> {
                        fn visit_float<const D: usize>(
                            &mut self,
                            param: &burn::module::Param<Tensor<D>>,
                        ) {
                            if let Some(g) = self.0.get::<D>(param.id) {
                                self.1
                                    .extend(g.into_data().try_to_vec::<f32>().expect("f32"));
                            }
                        }
                    }
                    let mut collect = Collect(&grads, Vec::new());
                    burn::module::Module::visit(&model, &mut collect);
                    (value, collect.1)
                })
            };
            let (fast, burn) = (run(true), run(false));
            assert!(
                (fast.0 - burn.0).abs() <= 1e-3 * burn.0.abs(),
                "{kind:?} loss {} vs {}",
                fast.0,
                burn.0
            );
            assert_eq!(fast.1.len(), burn.1.len());
            // Relative L2 difference of all gradients: a ReLU or max-pool
            // that flips on a near-tie (rounding differs between the two
            // kernels) moves a few entries much more than the rest, so an
            // entry-wise bound would test the tie, not the kernels.
            let difference: f64 = fast
                .1
                .iter()
                .zip(&burn.1)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            let norm: f64 = burn.1.iter().map(|b| f64::from(*b).powi(2)).sum();
            let relative = (difference / norm).sqrt();
            // 1e-2, not 1e-3: the weights and images come from the device's
            // global generator, which tests running alongside draw from too,
            // so the network differs from run to run, and now and then one
            // lands with more near-ties (DenseNet-121 once reached 6.3e-3 in
            // about ten full runs). A wrong kernel differs by order 1.
            assert!(
                relative <= 1e-2,
                "{kind:?} gradients differ by {relative:.2e} (relative L2)"
            );
        }
    }

    #[test]
    fn the_fast_path_is_taken_only_where_it_applies() {
        let flex = Device::flex().autodiff();
        let x = Tensor::<4>::zeros([1, 2, 4, 4], &flex);
        assert!(on_flex(&x.device()));
        assert!(on_flex(&Device::flex()));
        // Grouped convolutions fall back to Burn's and still give its result.
        let grouped = Conv2dConfig::new([2, 2], [3, 3]).with_groups(2).init(&flex);
        let y = conv2d(&grouped, Tensor::<4>::ones([1, 2, 5, 5], &flex));
        assert_eq!(y.dims(), [1, 2, 3, 3]);
    }
}
