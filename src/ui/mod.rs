//! The window: an eframe app over the library. It only draws and reacts; everything slow runs
//! as a job (see `crate::jobs`) whose events each tab drains in its logic, every frame.

pub mod app;
pub mod collect;
pub mod detect;
pub mod dialogs;
pub mod explore;
pub mod export;
pub mod follow;
pub mod improve;
pub mod jobs_bar;
pub mod library;
pub mod review;
pub mod tab;
pub mod train;
pub mod train_detector;
pub mod widgets;

pub use app::{Startup, StudioApp, Tab};
pub use tab::{Command, Status, StudioTab};
