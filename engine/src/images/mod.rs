//! Images: references, the content-addressed blob store, safe layer unpacking, the store and archive loading.

pub mod blobs;
pub mod changes;
pub mod config;
pub mod import;
pub mod load;
pub mod store;
pub mod unpack;

pub use imageref::ImageRef;
pub use store::ImageStore;
