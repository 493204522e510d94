//! `cachefrom` images as cache sources, as the classic builder uses them: a step is a hit when the source image's
//! history starts with the parent's history (and its layers with the parent's layers) and its next entry was
//! made by the same instruction. The hit is remade on the parent with that entry (its time kept, so later steps
//! match too) and that entry's layer; such images need no intermediate images, so pulled ones work as well.

use super::image::ImageState;
use super::History;
use crate::images::ImageStore;
use crate::state::LayerRecord;

/// The `cachefrom` images found in the store (missing ones are skipped, as dockerd does).
#[derive(Debug, Default)]
pub struct CacheSources {
    images: Vec<ImageState>,
    /// Whether `cachefrom` was given at all: then, as dockerd, a local cache hit counts only when it lies on
    /// a source's chain (given sources that are all missing leave no cache).
    restricted: bool,
}

impl CacheSources {
    /// Loads the images named in `names`.
    pub fn load(images: &ImageStore, names: &[String]) -> Self {
        let images = names
            .iter()
            .filter_map(|n| match ImageState::load(images, n) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::info!(image = %n, "cachefrom image not used: {e}");
                    None
                }
            })
            .collect();
        CacheSources {
            images,
            restricted: !names.is_empty(),
        }
    }

    /// Whether a local cache hit may be used: always without `cachefrom`, else when a source image starts
    /// with the hit (its history and layers are a prefix of the source's: the hit is one of its ancestors).
    pub fn allows_local(&self, hit: &ImageState) -> bool {
        !self.restricted || self.images.iter().any(|s| is_prefix(hit, s))
    }

    /// The history entry and layer of the step made by `created_by` on `parent`, from the first source that
    /// has it.
    pub fn find(&self, parent: &ImageState, created_by: &str) -> Option<(History, Option<LayerRecord>)> {
        self.images.iter().find_map(|s| step_after(s, parent, created_by))
    }
}

fn is_prefix(a: &ImageState, of: &ImageState) -> bool {
    let (ah, oh) = (&a.file.history, &of.file.history);
    let (al, ol) = (&a.file.rootfs.diff_ids, &of.file.rootfs.diff_ids);
    ah.len() <= oh.len() && oh[..ah.len()] == ah[..] && al.len() <= ol.len() && ol[..al.len()] == al[..]
}

fn step_after(src: &ImageState, parent: &ImageState, created_by: &str) -> Option<(History, Option<LayerRecord>)> {
    let (ph, sh) = (&parent.file.history, &src.file.history);
    let (pl, sl) = (&parent.file.rootfs.diff_ids, &src.file.rootfs.diff_ids);
    let k = ph.len();
    if k >= sh.len() || sh[..k] != ph[..] || pl.len() > sl.len() || sl[..pl.len()] != pl[..] {
        return None;
    }
    let entry = &sh[k];
    if entry.created_by.as_deref() != Some(created_by) {
        return None;
    }
    let layer = match entry.empty_layer {
        true => None,
        false => Some(src.layers.get(pl.len()).filter(|l| l.diff_id == sl[pl.len()])?.clone()),
    };
    Some((entry.clone(), layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(by: &str, empty: bool) -> History {
        History {
            created: Some(format!("2026-01-01T00:00:00Z {by}")),
            created_by: Some(by.into()),
            empty_layer: empty,
            ..Default::default()
        }
    }

    fn layer(n: u8) -> LayerRecord {
        LayerRecord {
            diff_id: format!("sha256:{n:064}"),
            blob: format!("sha256:{n:064}"),
            size: 1,
        }
    }

    fn state(hist: &[(&str, bool)]) -> ImageState {
        let mut s = ImageState::scratch();
        for (n, (by, empty)) in hist.iter().enumerate() {
            s.file.history.push(entry(by, *empty));
            if !empty {
                s.file.rootfs.diff_ids.push(layer(n as u8).diff_id);
                s.layers.push(layer(n as u8));
            }
        }
        s
    }

    #[test]
    fn the_next_entry_after_a_matching_parent_is_a_hit() {
        let src = state(&[("base", false), ("ENV a=1", true), ("RUN make", false)]);
        let parent = state(&[("base", false)]);
        let (e, l) = step_after(&src, &parent, "ENV a=1").unwrap();
        assert_eq!(e, entry("ENV a=1", true));
        assert!(l.is_none());
        let parent = state(&[("base", false), ("ENV a=1", true)]);
        let (_, l) = step_after(&src, &parent, "RUN make").unwrap();
        assert_eq!(l.unwrap().diff_id, layer(2).diff_id);
    }

    #[test]
    fn other_instructions_parents_or_ends_miss() {
        let src = state(&[("base", false), ("RUN make", false)]);
        assert!(step_after(&src, &state(&[("base", false)]), "RUN other").is_none());
        assert!(step_after(&src, &state(&[("other", false)]), "RUN make").is_none());
        assert!(step_after(&src, &src, "RUN make").is_none());
        let sources = CacheSources {
            images: vec![src],
            restricted: true,
        };
        assert!(sources.find(&state(&[("base", false)]), "RUN make").is_some());
    }
}
