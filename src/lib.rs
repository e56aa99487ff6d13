//! DeepStyle Studio: turn runway photos into new garment designs.
//!
//! The library holds every stage of the pipeline (collect, detect, review, train, explore,
//! export); the window (`ui`) and the headless command line (`cli` in the binary) are thin
//! faces over it. Library modules never import `ui`.

pub mod atomic;
pub mod checkpoint;
pub mod collect;
pub mod datasets;
pub mod detect;
pub mod device;
pub mod export;
pub mod gan;
pub mod imaging;
pub mod jobs;
pub mod kernels;
pub mod latent;
pub mod optim;
pub mod project;
pub mod review;
pub mod ui;
