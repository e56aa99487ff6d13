//! Spectral normalisation (Miyato et al. 2018): a weight divided by an estimate of its largest
//! singular value, refined by one power iteration per training forward pass. The estimate's
//! left singular vector `u` is a buffer saved with the weights (`NAME_u`), so a resumed run
//! and a loaded model continue from it.

use candle_core::{Result, Tensor, Var};
use candle_nn::VarBuilder;

const EPS: f64 = 1e-12;

pub struct SpectralNorm {
    u: Var,
}

impl SpectralNorm {
    /// For a weight whose first dimension has `rows` entries; the buffer is `weight_u`.
    pub fn new(rows: usize, vb: &VarBuilder) -> Result<Self> {
        Ok(SpectralNorm {
            u: Var::from_tensor(&vb.get(rows, "weight_u")?)?,
        })
    }

    /// `weight / sigma`. In training, one power iteration first refines `u` (without
    /// gradient); sigma then carries the gradient through `weight`, as PyTorch's
    /// `spectral_norm` does.
    pub fn normalise(&self, weight: &Tensor, train: bool) -> Result<Tensor> {
        let rows = weight.dim(0)?;
        let matrix = weight.reshape((rows, ()))?;
        let fixed = matrix.detach();
        let mut u = self.u.as_tensor().detach().reshape((rows, 1))?;
        // v = W^T u / |W^T u|
        let mut v = unit(&fixed.t()?.matmul(&u)?)?;
        if train {
            u = unit(&fixed.matmul(&v)?)?;
            v = unit(&fixed.t()?.matmul(&u)?)?;
            self.u.set(&u.flatten_all()?)?;
        }
        let sigma = u.t()?.matmul(&matrix.matmul(&v)?)?.reshape(())?;
        weight.broadcast_div(&sigma)
    }
}

fn unit(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_all()?.sqrt()? + EPS)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn power_iterations_find_the_largest_singular_value() {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let sn = SpectralNorm::new(2, &vb).unwrap();
        vars.data().lock().unwrap()["weight_u"]
            .set(&Tensor::new(&[0.6f32, 0.8], &Device::Cpu).unwrap())
            .unwrap();
        // Singular values of [[3, 0, 0], [0, 1, 0]] (as a (2, 1, 3, 1) weight): 3 and 1.
        let weight = Tensor::new(&[3f32, 0.0, 0.0, 0.0, 1.0, 0.0], &Device::Cpu)
            .unwrap()
            .reshape((2, 1, 3, 1))
            .unwrap();
        for _ in 0..20 {
            sn.normalise(&weight, true).unwrap();
        }
        let normalised = sn.normalise(&weight, false).unwrap();
        let values = normalised.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!((values[0] - 1.0).abs() < 1e-4, "{values:?}");
        assert!((values[4] - 1.0 / 3.0).abs() < 1e-4, "{values:?}");
        // Evaluation leaves the buffer alone.
        let before = vars.data().lock().unwrap()["weight_u"]
            .to_vec1::<f32>()
            .unwrap();
        sn.normalise(&weight, false).unwrap();
        let after = vars.data().lock().unwrap()["weight_u"]
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn the_gradient_flows_through_sigma() {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let sn = SpectralNorm::new(1, &vb).unwrap();
        vars.data().lock().unwrap()["weight_u"]
            .set(&Tensor::new(&[1f32], &Device::Cpu).unwrap())
            .unwrap();
        // A single row w: w / |w| has zero gradient along w for the loss sum(w / |w| * w / |w|).
        let weight = Var::new(&[[3f32, 4.0]], &Device::Cpu).unwrap();
        let normalised = sn.normalise(weight.as_tensor(), true).unwrap();
        let loss = (normalised.sqr().unwrap().sum_all()).unwrap();
        assert!((loss.to_scalar::<f32>().unwrap() - 1.0).abs() < 1e-5);
        let grads = loss.backward().unwrap();
        let grad = grads
            .get(weight.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert!(grad[0].iter().all(|g| g.abs() < 1e-5), "{grad:?}");
    }
}
