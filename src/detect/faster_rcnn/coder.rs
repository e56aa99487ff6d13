//! Box regression targets, as torchvision's `BoxCoder`: a box relative to a reference (an
//! anchor or a proposal) is the shift of its centre in units of the reference's size and the
//! log of its size over the reference's, each multiplied by a weight; decoding inverts it, with
//! the size change clipped so a wild prediction cannot overflow.

use crate::detect::boxes::BoxRect;

/// `log(1000 / 16)`: torchvision's bound on a decoded size change.
pub const DEFAULT_CLIP: f32 = 4.135_166_6;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxCoder {
    /// Weights of (dx, dy, dw, dh): the RPN uses 1s, the box head (10, 10, 5, 5).
    pub weights: [f32; 4],
    /// Largest size change (in log units) a decoded box may have.
    pub clip: f32,
}

impl BoxCoder {
    pub const RPN: BoxCoder = BoxCoder {
        weights: [1.0, 1.0, 1.0, 1.0],
        clip: DEFAULT_CLIP,
    };
    pub const HEAD: BoxCoder = BoxCoder {
        weights: [10.0, 10.0, 5.0, 5.0],
        clip: DEFAULT_CLIP,
    };

    /// The deltas `(dx, dy, dw, dh)` that take `reference` to `target` (both non-empty).
    pub fn encode(&self, reference: &BoxRect, target: &BoxRect) -> [f32; 4] {
        let [wx, wy, ww, wh] = self.weights;
        let (rw, rh) = (reference.width(), reference.height());
        let (rx, ry) = reference.center();
        let (tw, th) = (target.width(), target.height());
        let (tx, ty) = target.center();
        [
            wx * (tx - rx) / rw,
            wy * (ty - ry) / rh,
            ww * (tw / rw).ln(),
            wh * (th / rh).ln(),
        ]
    }

    /// The box `deltas` make of `reference`.
    pub fn decode(&self, reference: &BoxRect, deltas: [f32; 4]) -> BoxRect {
        let [wx, wy, ww, wh] = self.weights;
        let (rw, rh) = (reference.width(), reference.height());
        let (rx, ry) = reference.center();
        let dx = deltas[0] / wx;
        let dy = deltas[1] / wy;
        let dw = (deltas[2] / ww).min(self.clip);
        let dh = (deltas[3] / wh).min(self.clip);
        let (cx, cy) = (dx * rw + rx, dy * rh + ry);
        let (w, h) = (dw.exp() * rw, dh.exp() * rh);
        BoxRect::new(cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 4], b: [f32; 4]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn encodes_as_torchvision_by_hand() {
        // Reference centred at (20, 20), 20x20; target centred at (25, 15), 40x10.
        let reference = BoxRect::new(10.0, 10.0, 30.0, 30.0);
        let target = BoxRect::new(5.0, 10.0, 45.0, 20.0);
        let rpn = BoxCoder::RPN.encode(&reference, &target);
        assert!(close(rpn, [0.25, -0.25, 2f32.ln(), 0.5f32.ln()]), "{rpn:?}");
        let head = BoxCoder::HEAD.encode(&reference, &target);
        assert!(
            close(head, [2.5, -2.5, 5.0 * 2f32.ln(), 5.0 * 0.5f32.ln()]),
            "{head:?}"
        );
    }

    #[test]
    fn decoding_inverts_encoding_and_clips_size_changes() {
        let reference = BoxRect::new(3.0, 7.0, 50.0, 31.0);
        for coder in [BoxCoder::RPN, BoxCoder::HEAD] {
            for target in [
                BoxRect::new(0.0, 0.0, 10.0, 10.0),
                BoxRect::new(20.5, 1.0, 120.0, 90.0),
                reference,
            ] {
                let back = coder.decode(&reference, coder.encode(&reference, &target));
                let error = [
                    back.x0 - target.x0,
                    back.y0 - target.y0,
                    back.x1 - target.x1,
                    back.y1 - target.y1,
                ];
                assert!(
                    error.iter().all(|e| e.abs() < 1e-3),
                    "{back:?} vs {target:?}"
                );
            }
        }
        // A huge predicted growth stops at exp(clip) = 62.5 times the reference.
        let reference = BoxRect::new(0.0, 0.0, 16.0, 16.0);
        let wild = BoxCoder::RPN.decode(&reference, [0.0, 0.0, 50.0, 50.0]);
        assert!((wild.width() - 1000.0).abs() < 0.5, "{wild:?}");
        assert!(wild.x0.is_finite() && wild.y1.is_finite());
    }
}
