//! The sizes and options of one 3-D convolution, shared by both ways of
//! computing it: the matrix products of `conv3d` and the direct kernels of
//! `direct3d` (apart, so that the direct kernels need not import the
//! module that calls them).

use super::conv::{ConvGeometry, ConvShapeError};

/// Sizes and options of one 3-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_d: usize,
    pub out_channels: usize,
    pub kernel_d: usize,
    pub stride_d: usize,
    /// Padding before the first slice.
    pub pad_d: usize,
    pub dilation_d: usize,
    pub out_d: usize,
    /// One depth tap: every `(volume, output slice)` pair as one image of a
    /// 2-D convolution over height and width (batch `N · Do`).
    pub plane: ConvGeometry,
}

impl Conv3dGeometry {
    /// The geometry of `x` (`[N, C, D, H, W]`) convolved with `w`
    /// (`[O, C, kd, kh, kw]`), padding `(begin, end)` per axis.
    pub fn new(
        x: &[usize],
        w: &[usize],
        stride: [usize; 3],
        padding: [(usize, usize); 3],
        dilation: [usize; 3],
    ) -> Result<Self, ConvShapeError> {
        let &[batch, in_channels, in_d, in_h, in_w] = x else {
            return Err(ConvShapeError::Input3d(x.to_vec()));
        };
        let &[out_channels, kernel_channels, kernel_d, kernel_h, kernel_w] = w else {
            return Err(ConvShapeError::Kernel {
                kernel: w.to_vec(),
                channels: in_channels,
            });
        };
        if stride.contains(&0) || dilation.contains(&0) {
            return Err(ConvShapeError::Options);
        }
        let padded_d = in_d + padding[0].0 + padding[0].1;
        let reach_d = dilation[0] * (kernel_d.max(1) - 1) + 1;
        if padded_d < reach_d {
            return Err(ConvShapeError::EmptyDepth {
                kernel: kernel_d,
                padded: padded_d,
            });
        }
        let out_d = (padded_d - reach_d) / stride[0] + 1;
        let plane = ConvGeometry::new(
            &[batch * out_d, in_channels, in_h, in_w],
            &[out_channels, kernel_channels, kernel_h, kernel_w],
            [stride[1], stride[2]],
            [padding[1], padding[2]],
            [dilation[1], dilation[2]],
        )?;
        Ok(Self {
            batch,
            in_channels,
            in_d,
            out_channels,
            kernel_d,
            stride_d: stride[0],
            pad_d: padding[0].0,
            dilation_d: dilation[0],
            out_d,
            plane,
        })
    }

    /// `[N, O, Do, Ho, Wo]`.
    pub fn out_shape(&self) -> [usize; 5] {
        [
            self.batch,
            self.out_channels,
            self.out_d,
            self.plane.out_h,
            self.plane.out_w,
        ]
    }

    /// `[N, C, D, H, W]`.
    pub fn in_shape(&self) -> [usize; 5] {
        [
            self.batch,
            self.in_channels,
            self.in_d,
            self.plane.in_h,
            self.plane.in_w,
        ]
    }

    /// `[O, C, kd, kh, kw]`.
    pub fn kernel_shape(&self) -> [usize; 5] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel_d,
            self.plane.kernel_h,
            self.plane.kernel_w,
        ]
    }

    pub(super) fn in_plane(&self) -> usize {
        self.plane.in_h * self.plane.in_w
    }

    pub(super) fn out_plane(&self) -> usize {
        self.plane.out_pixels()
    }

    /// The input slice tap `kz` reads for output slice `od`, if inside.
    pub(super) fn input_slice(&self, od: usize, kz: usize) -> Option<usize> {
        (od * self.stride_d + kz * self.dilation_d)
            .checked_sub(self.pad_d)
            .filter(|&d| d < self.in_d)
    }

    /// Whether tap `kz` reads any slice at all (a tap that only ever
    /// reads padding adds nothing).
    pub(super) fn tap_reads(&self, kz: usize) -> bool {
        (0..self.out_d).any(|od| self.input_slice(od, kz).is_some())
    }

    /// Multiply-adds of the forward pass.
    pub fn flops(&self) -> f64 {
        self.plane.flops() * self.kernel_d as f64
    }
}
