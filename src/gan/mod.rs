//! DCGAN (Radford, Metz and Chintala 2015, "Unsupervised Representation Learning with Deep
//! Convolutional Generative Adversarial Networks"), as in pytorch/examples `dcgan/main.py`.
//!
//! `model` holds the networks, `adam` the optimiser, `data` the training images, `train` the
//! trainer as a job, `sample` turning tensors into pictures.

pub mod condition;
pub mod config;
pub mod data;
pub mod diversity;
pub mod ema;
pub mod estimate;
pub mod model;
pub mod pack;
pub mod quality;
pub mod sample;
pub mod sampler;
pub mod spectral;
pub mod train;

pub use config::GanConfig;
