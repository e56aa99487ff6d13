//! Packing (PacGAN, Lin et al. 2018): the discriminator judges `pack` images at once, stacked
//! on its channels. A generator that draws a class with too little variety makes packs whose
//! images look alike, and real packs of that class do not, so D can tell them apart.
//!
//! In a conditional model every pack is of one class: a batch's rows are grouped by class and
//! the rows a class has left over (fewer than `pack`) sit this step out.

use candle_core::{D, Result, Tensor};

/// How one batch is packed: which rows form the packs, in order, and each pack's class.
pub struct Packing {
    pack: usize,
    /// Row indices, `pack` consecutive ones a pack.
    order: Tensor,
    /// Each row's class row in pack order `(P * pack, K)`; `None` when unconditional.
    row_classes: Option<Tensor>,
    /// Each pack's class row `(P, K)`.
    pack_classes: Option<Tensor>,
}

impl Packing {
    /// Packs of `pack` rows of a batch of `rows` rows with one-hot `classes` `(rows, K)`.
    pub fn of_batch(rows: usize, classes: Option<&Tensor>, pack: usize) -> Result<Packing> {
        let labels = match classes {
            Some(classes) => classes.argmax(D::Minus1)?.to_vec1::<u32>()?,
            None => vec![0; rows],
        };
        let order = pack_order(&labels, pack);
        if order.is_empty() {
            return Err(candle_core::Error::Msg(format!(
                "no class has {pack} images in this batch of {rows} to pack: \
                 use a larger batch or a smaller pack"
            )));
        }
        let device = match classes {
            Some(classes) => classes.device().clone(),
            None => candle_core::Device::Cpu,
        };
        let packs = order.len() / pack;
        let firsts: Vec<u32> = order.iter().step_by(pack).copied().collect();
        let order = Tensor::from_vec(order, packs * pack, &device)?;
        let firsts = Tensor::from_vec(firsts, packs, &device)?;
        Ok(Packing {
            pack,
            row_classes: classes.map(|c| c.index_select(&order, 0)).transpose()?,
            pack_classes: classes.map(|c| c.index_select(&firsts, 0)).transpose()?,
            order,
        })
    }

    /// Rows that take part: `pack` times the number of packs.
    pub fn rows(&self) -> usize {
        self.order.dims1().unwrap_or(0)
    }

    /// The class rows of the rows in pack order, for the generator to draw its fakes as.
    pub fn row_classes(&self) -> Option<&Tensor> {
        self.row_classes.as_ref()
    }

    /// Each pack's class row, for the discriminator.
    pub fn pack_classes(&self) -> Option<&Tensor> {
        self.pack_classes.as_ref()
    }

    /// Real images `(N, C, H, W)` packed: `(P, pack * C, H, W)`.
    pub fn pack_real(&self, images: &Tensor) -> Result<Tensor> {
        let order = self.order.to_device(images.device())?;
        stack(&images.index_select(&order, 0)?, self.pack)
    }

    /// Images already in pack order (fakes drawn for [`Packing::row_classes`]) packed.
    pub fn pack_ordered(&self, images: &Tensor) -> Result<Tensor> {
        stack(images, self.pack)
    }
}

/// `(P * pack, C, H, W)` -> `(P, pack * C, H, W)`: each run of `pack` images on the channels.
fn stack(images: &Tensor, pack: usize) -> Result<Tensor> {
    let (n, c, h, w) = images.dims4()?;
    images.contiguous()?.reshape((n / pack, pack * c, h, w))
}

/// The rows of a batch grouped into packs of `pack` rows of one label, in order of first
/// appearance; a label's last rows that do not fill a pack are left out.
pub fn pack_order(labels: &[u32], pack: usize) -> Vec<u32> {
    let mut by_label: Vec<(u32, Vec<u32>)> = Vec::new();
    for (row, &label) in labels.iter().enumerate() {
        match by_label.iter_mut().find(|(l, _)| *l == label) {
            Some((_, rows)) => rows.push(row as u32),
            None => by_label.push((label, vec![row as u32])),
        }
    }
    let pack = pack.max(1);
    by_label
        .into_iter()
        .flat_map(|(_, rows)| {
            let full = rows.len() / pack * pack;
            rows.into_iter().take(full)
        })
        .collect()
}

/// A one-hot `(N, K)` tensor of `labels`, for tests.
#[cfg(test)]
fn one_hot_rows(labels: &[u32], k: usize) -> Tensor {
    let mut data = vec![0f32; labels.len() * k];
    for (i, &l) in labels.iter().enumerate() {
        data[i * k + l as usize] = 1.0;
    }
    Tensor::from_vec(data, (labels.len(), k), &candle_core::Device::Cpu)
        .expect("a small one-hot tensor")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_group_rows_of_one_label_and_leave_out_the_remainder() {
        assert_eq!(pack_order(&[2, 0, 2, 1, 0, 2], 2), vec![0, 2, 1, 4]);
        assert_eq!(pack_order(&[2, 0, 2, 1, 0, 2], 3), vec![0, 2, 5]);
        assert_eq!(pack_order(&[0, 1, 2], 2), Vec::<u32>::new());
        assert_eq!(pack_order(&[5; 5], 1), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn packed_images_stack_one_class_on_the_channels() -> Result<()> {
        // Image i is filled with the value i; labels put rows 0 and 3, 1 and 2 together.
        let labels = [0, 1, 1, 0, 2];
        let images: Vec<f32> = (0..5).flat_map(|i| vec![i as f32; 2 * 2 * 2]).collect();
        let images = Tensor::from_vec(images, (5, 2, 2, 2), &candle_core::Device::Cpu)?;
        let classes = one_hot_rows(&labels, 3);
        let packing = Packing::of_batch(5, Some(&classes), 2)?;
        assert_eq!(packing.rows(), 4);
        let packed = packing.pack_real(&images)?;
        assert_eq!(packed.dims4()?, (2, 4, 2, 2));
        let firsts = packed.flatten_from(2)?.max(D::Minus1)?.to_vec2::<f32>()?;
        assert_eq!(
            firsts,
            vec![vec![0.0, 0.0, 3.0, 3.0], vec![1.0, 1.0, 2.0, 2.0]]
        );
        let labels_of = |rows: Option<&Tensor>| -> Result<Option<Vec<u32>>> {
            rows.map(|r| r.argmax(D::Minus1)?.to_vec1::<u32>())
                .transpose()
        };
        assert_eq!(labels_of(packing.pack_classes())?, Some(vec![0, 1]));
        assert_eq!(labels_of(packing.row_classes())?, Some(vec![0, 0, 1, 1]));
        Ok(())
    }

    #[test]
    fn a_batch_with_no_full_pack_says_so() {
        let classes = one_hot_rows(&[0, 1, 2], 3);
        let err = Packing::of_batch(3, Some(&classes), 2)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no class has 2 images")));
    }
}
