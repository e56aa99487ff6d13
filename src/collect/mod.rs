//! Collecting runway photos from the web: what a pasted address is (`source`), the pins and
//! images in Pinterest's responses (`pinterest`) and in web pages and feeds (`web`), a polite
//! HTTP client (`http`, `robots`), the listing of a source page by page (`listing`), and the
//! scrape that fetches, stores and records what it finds (`scrape`).

pub mod http;
pub mod listing;
pub mod pinterest;
pub mod robots;
pub mod scrape;
pub mod source;
pub mod web;
