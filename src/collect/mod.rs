//! Collecting runway photos from the web: what a pasted address is (`source`), the pins and
//! images in Pinterest's responses (`pinterest`), and the images a web page or feed offers
//! (`web`). These read responses; fetching them (a polite HTTP client on worker threads, the
//! scrape job, `deepstyle scrape` and the Collect tab's scraping) is not built yet.

pub mod pinterest;
pub mod source;
pub mod web;
