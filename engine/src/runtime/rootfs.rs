//! The container rootfs: overlayfs of the image layers plus a per-container upper dir, and /etc files.
