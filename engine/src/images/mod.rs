//! Images: references, the content-addressed blob store, safe layer unpacking, the store and archive loading.

pub mod blobs;
pub mod config;
pub mod load;
pub mod reference;
pub mod store;
pub mod unpack;

pub use reference::ImageRef;
pub use store::ImageStore;
