//! RoIAlign (He et al. 2017, "Mask R-CNN"), as torchvision's `roi_align` computes it: each
//! region of interest is cut into `pooled` bins, each bin averages a grid of bilinear samples of
//! the feature map, and the gradient goes back to the four pixels around each sample with the
//! same weights. Candle has no such operation; this is one custom op for the forward and one
//! for the backward, on the CPU.
//!
//! Regions are rows `[batch_index, x0, y0, x1, y1]` in image pixels; `spatial_scale` takes them
//! to the feature map (1 / stride). With `aligned`, a pixel's centre is at +0.5 (the corrected
//! version); without, as torchvision's default and its Faster R-CNN, boxes are not shifted and
//! are at least one feature pixel wide.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{KernelError, f32_slice};

/// How regions are pooled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiAlign {
    /// Output bins (height, width).
    pub pooled: (usize, usize),
    /// Feature-map pixels per image pixel.
    pub spatial_scale: f32,
    /// Samples per bin side; 0: as many as the bin is wide, rounded up (torchvision's -1).
    pub sampling_ratio: usize,
    pub aligned: bool,
}

/// One bilinear sample: the four feature pixels (offsets in a plane) and their weights, each
/// already divided by the bin's sample count.
#[derive(Debug, Clone, Copy)]
struct Tap {
    offsets: [usize; 4],
    weights: [f32; 4],
}

impl RoiAlign {
    /// The taps of every bin of one region, bin by bin (row-major), `grid` taps a bin.
    fn taps(&self, roi: [f32; 4], height: usize, width: usize) -> (Vec<Tap>, usize) {
        let offset = if self.aligned { 0.5 } else { 0.0 };
        let scale = self.spatial_scale;
        let (x0, y0) = (roi[0] * scale - offset, roi[1] * scale - offset);
        let (mut roi_w, mut roi_h) = (roi[2] * scale - offset - x0, roi[3] * scale - offset - y0);
        if !self.aligned {
            roi_w = roi_w.max(1.0);
            roi_h = roi_h.max(1.0);
        }
        let (ph, pw) = self.pooled;
        let (bin_h, bin_w) = (roi_h / ph as f32, roi_w / pw as f32);
        let grid = |bin: f32| {
            if self.sampling_ratio > 0 {
                self.sampling_ratio
            } else {
                (bin.ceil() as usize).max(1)
            }
        };
        let (grid_h, grid_w) = (grid(bin_h), grid(bin_w));
        let per_bin = grid_h * grid_w;
        let share = 1.0 / per_bin as f32;
        let mut taps = Vec::with_capacity(ph * pw * per_bin);
        for by in 0..ph {
            for bx in 0..pw {
                for iy in 0..grid_h {
                    let y = y0 + by as f32 * bin_h + (iy as f32 + 0.5) * bin_h / grid_h as f32;
                    for ix in 0..grid_w {
                        let x = x0 + bx as f32 * bin_w + (ix as f32 + 0.5) * bin_w / grid_w as f32;
                        taps.push(bilinear(y, x, height, width, share));
                    }
                }
            }
        }
        (taps, per_bin)
    }

    fn regions(rois: &[f32], batch: usize) -> Result<Vec<(usize, [f32; 4])>, KernelError> {
        rois.chunks(5)
            .map(|r| {
                let index = r[0];
                if !(index >= 0.0 && (index as usize) < batch && index.fract() == 0.0) {
                    return Err(KernelError::Geometry(format!(
                        "roi_align: batch index {index} outside 0..{batch}"
                    )));
                }
                Ok((index as usize, [r[1], r[2], r[3], r[4]]))
            })
            .collect()
    }
}

/// torchvision's bilinear sample at `(y, x)`: nothing outside `[-1, size]`, edges clamped.
fn bilinear(y: f32, x: f32, height: usize, width: usize, share: f32) -> Tap {
    if y < -1.0 || y > height as f32 || x < -1.0 || x > width as f32 {
        return Tap {
            offsets: [0; 4],
            weights: [0.0; 4],
        };
    }
    let axis = |v: f32, size: usize| -> (usize, usize, f32) {
        let v = v.max(0.0);
        let low = v as usize;
        if low >= size - 1 {
            (size - 1, size - 1, 0.0)
        } else {
            (low, low + 1, v - low as f32)
        }
    };
    let (y_low, y_high, ly) = axis(y, height);
    let (x_low, x_high, lx) = axis(x, width);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Tap {
        offsets: [
            y_low * width + x_low,
            y_low * width + x_high,
            y_high * width + x_low,
            y_high * width + x_high,
        ],
        weights: [
            hy * hx * share,
            hy * lx * share,
            ly * hx * share,
            ly * lx * share,
        ],
    }
}

fn dims(features: &Layout, rois: &Layout) -> Result<([usize; 4], usize), KernelError> {
    let f = features.dims();
    let r = rois.dims();
    if f.len() != 4 || r.len() != 2 || r[1] != 5 || f[2] == 0 || f[3] == 0 {
        return Err(KernelError::Geometry(format!(
            "roi_align: features {f:?} (N, C, H, W) and regions {r:?} (R, 5)"
        )));
    }
    Ok(([f[0], f[1], f[2], f[3]], r[0]))
}

impl CustomOp2 for RoiAlign {
    fn name(&self) -> &'static str {
        "deepstyle-roi-align"
    }

    fn cpu_fwd(
        &self,
        features: &CpuStorage,
        features_layout: &Layout,
        rois: &CpuStorage,
        rois_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let ([n, c, h, w], r) = dims(features_layout, rois_layout)?;
        let features = f32_slice(features, features_layout)?;
        let regions = Self::regions(f32_slice(rois, rois_layout)?, n)?;
        let (ph, pw) = self.pooled;
        let bins = ph * pw;
        let mut out = vec![0f32; r * c * bins];
        out.par_chunks_mut(c * bins)
            .zip(regions.par_iter())
            .for_each(|(dst, (image, roi))| {
                let (taps, per_bin) = self.taps(*roi, h, w);
                let planes = &features[image * c * h * w..(image + 1) * c * h * w];
                for (plane, dst) in planes.chunks(h * w).zip(dst.chunks_mut(bins)) {
                    for (bin, value) in dst.iter_mut().enumerate() {
                        *value = taps[bin * per_bin..(bin + 1) * per_bin]
                            .iter()
                            .map(|t| {
                                (0..4)
                                    .map(|k| t.weights[k] * plane[t.offsets[k]])
                                    .sum::<f32>()
                            })
                            .sum();
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((r, c, ph, pw))))
    }

    fn bwd(
        &self,
        features: &Tensor,
        rois: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, w) = features.dims4()?;
        let grad = grad_res.contiguous()?.apply_op2_no_bwd(
            &rois.contiguous()?,
            &RoiAlignBackward {
                forward: *self,
                features: (n, c, h, w),
            },
        )?;
        // The regions get no gradient, as in torchvision.
        Ok((Some(grad), None))
    }
}

/// The gradient of the features: each output's gradient spread back over its taps.
struct RoiAlignBackward {
    forward: RoiAlign,
    features: (usize, usize, usize, usize),
}

impl CustomOp2 for RoiAlignBackward {
    fn name(&self) -> &'static str {
        "deepstyle-roi-align-backward"
    }

    fn cpu_fwd(
        &self,
        grad: &CpuStorage,
        grad_layout: &Layout,
        rois: &CpuStorage,
        rois_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = self.features;
        let (ph, pw) = self.forward.pooled;
        let bins = ph * pw;
        let grad = f32_slice(grad, grad_layout)?;
        let regions = RoiAlign::regions(f32_slice(rois, rois_layout)?, n)?;
        if grad.len() != regions.len() * c * bins {
            return Err(KernelError::Geometry(format!(
                "roi_align backward: gradient {:?} for {} regions of {c} channels",
                grad_layout.dims(),
                regions.len()
            ))
            .into());
        }
        let taps: Vec<(Vec<Tap>, usize)> = regions
            .par_iter()
            .map(|(_, roi)| self.forward.taps(*roi, h, w))
            .collect();
        let mut out = vec![0f32; n * c * h * w];
        // Each thread owns whole feature planes (image, channel): no two write one pixel.
        out.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(index, plane)| {
                let (image, channel) = (index / c, index % c);
                for (r, (region_image, _)) in regions.iter().enumerate() {
                    if *region_image != image {
                        continue;
                    }
                    let (taps, per_bin) = &taps[r];
                    let grads = &grad[(r * c + channel) * bins..(r * c + channel + 1) * bins];
                    for (bin, g) in grads.iter().enumerate() {
                        for tap in &taps[bin * per_bin..(bin + 1) * per_bin] {
                            for k in 0..4 {
                                plane[tap.offsets[k]] += g * tap.weights[k];
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from(self.features)))
    }
}

/// Pools `rois (R, 5)` out of `features (N, C, H, W)` into `(R, C, pooled.0, pooled.1)`, with a
/// gradient for the features. The kernel is the CPU's: features on a GPU make a round trip
/// through host memory (Candle's device moves carry the gradient back).
pub fn roi_align(features: &Tensor, rois: &Tensor, op: RoiAlign) -> candle_core::Result<Tensor> {
    let device = features.device();
    if device.is_cpu() {
        return features.contiguous()?.apply_op2(&rois.contiguous()?, op);
    }
    let host = candle_core::Device::Cpu;
    let features = features.to_device(&host)?.contiguous()?;
    let rois = rois.to_device(&host)?.contiguous()?;
    features.apply_op2(&rois, op)?.to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn op(aligned: bool, sampling_ratio: usize) -> RoiAlign {
        RoiAlign {
            pooled: (2, 3),
            spatial_scale: 0.5,
            sampling_ratio,
            aligned,
        }
    }

    #[test]
    fn a_linear_map_pools_to_its_values_at_the_bin_centres() {
        // f(y, x) = x + 10 y is reproduced exactly by bilinear sampling inside the map, so each
        // bin's average is f at the bin's centre.
        let (h, w) = (12, 16);
        let values: Vec<f32> = (0..h * w)
            .map(|i| (i % w) as f32 + 10.0 * (i / w) as f32)
            .collect();
        let device = Device::Cpu;
        let features = Tensor::from_vec(values, (1, 1, h, w), &device).unwrap();
        // In image pixels (scale 0.5): x 6..18, y 4..16 -> feature x 3..9, y 2..8.
        let rois = Tensor::from_vec(vec![0f32, 6.0, 4.0, 18.0, 16.0], (1, 5), &device).unwrap();
        for (aligned, shift) in [(false, 0.0), (true, 0.5)] {
            let pooled = roi_align(&features, &rois, op(aligned, 2)).unwrap();
            let got = pooled.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let (x0, y0) = (3.0 - shift, 2.0 - shift);
            let (bin_w, bin_h) = (6.0 / 3.0, 6.0 / 2.0);
            for by in 0..2 {
                for bx in 0..3 {
                    let x = x0 + (bx as f32 + 0.5) * bin_w;
                    let y = y0 + (by as f32 + 0.5) * bin_h;
                    let want = x + 10.0 * y;
                    let value = got[by * 3 + bx];
                    assert!(
                        (value - want).abs() < 1e-4,
                        "aligned {aligned}: {value} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn regions_pick_their_image_and_bad_indices_are_refused() {
        let device = Device::Cpu;
        let features = Tensor::cat(
            &[
                Tensor::ones((1, 2, 4, 4), candle_core::DType::F32, &device).unwrap(),
                Tensor::full(3f32, (1, 2, 4, 4), &device).unwrap(),
            ],
            0,
        )
        .unwrap();
        let rois = Tensor::from_vec(
            vec![1f32, 0.0, 0.0, 6.0, 6.0, 0.0, 2.0, 2.0, 4.0, 4.0],
            (2, 5),
            &device,
        )
        .unwrap();
        let pooled = roi_align(&features, &rois, op(false, 0)).unwrap();
        assert_eq!(pooled.dims(), [2, 2, 2, 3]);
        let values = pooled.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            values[..12].iter().all(|v| (v - 3.0).abs() < 1e-6),
            "{values:?}"
        );
        assert!(
            values[12..].iter().all(|v| (v - 1.0).abs() < 1e-6),
            "{values:?}"
        );
        let bad = Tensor::from_vec(vec![2f32, 0.0, 0.0, 4.0, 4.0], (1, 5), &device).unwrap();
        assert!(roi_align(&features, &bad, op(false, 2)).is_err());
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let device = Device::Cpu;
        let (n, c, h, w) = (2, 3, 7, 9);
        let values: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 37 % 101) as f32 * 0.1).sin())
            .collect();
        let features = Var::from_vec(values.clone(), (n, c, h, w), &device).unwrap();
        // Regions inside, across the edge, tiny, and in the second image.
        let rois = Tensor::from_vec(
            vec![
                0f32, 2.0, 3.0, 11.0, 9.0, //
                1.0, -3.0, 5.0, 8.0, 16.0, //
                0.0, 7.0, 7.0, 7.5, 7.4, //
                1.0, 10.0, 0.0, 17.0, 13.0,
            ],
            (4, 5),
            &device,
        )
        .unwrap();
        for aligned in [false, true] {
            let op = op(aligned, 2);
            let out_len = 4 * c * 6;
            let mix: Vec<f32> = (0..out_len)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 7.0)
                .collect();
            let mix = Tensor::from_vec(mix, (4, c, 2, 3), &device).unwrap();
            let loss = |f: &Tensor| {
                (roi_align(f, &rois, op).unwrap() * &mix)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let grads = loss(features.as_tensor()).backward().unwrap();
            let analytic = grads
                .get(features.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            // The pooling is linear in the features: a difference of one step is exact up to
            // rounding. Check every fifth pixel.
            for i in (0..values.len()).step_by(5) {
                let step = 0.5;
                let mut plus = values.clone();
                plus[i] += step;
                let mut minus = values.clone();
                minus[i] -= step;
                let at = |v: Vec<f32>| {
                    let t = Tensor::from_vec(v, (n, c, h, w), &device).unwrap();
                    loss(&t).to_scalar::<f32>().unwrap()
                };
                let numeric = (at(plus) - at(minus)) / (2.0 * step);
                assert!(
                    (numeric - analytic[i]).abs() < 1e-3,
                    "aligned {aligned}, pixel {i}: {numeric} vs {}",
                    analytic[i]
                );
            }
        }
    }
}
