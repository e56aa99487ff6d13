//! Collecting runway photos from the web. So far: what a source URL is (`source`) and how
//! Pinterest's responses name a board's pins and their images (`pinterest`); the polite HTTP
//! client, the scrape job and the Collect tab's scraping build on these.

pub mod pinterest;
pub mod source;
