use crate::error::IoContext;
use crate::fsutil::write_replace;
use crate::{Digest, KeptTar, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// A read-only layer as recorded in `layerdb/sha256/<chain_id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMeta {
    /// Identity of the layer and all below it.
    pub chain_id: Digest,
    /// sha256 of the layer's uncompressed tar.
    pub diff_id: Digest,
    /// Chain id of the layer below, if any.
    pub parent: Option<Digest>,
    /// The graphdriver's id for the layer's contents.
    pub cache_id: String,
    /// Bytes of the layer's own files.
    pub size: u64,
}

/// A container's layers as recorded in `layerdb/mounts/<container_id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountMeta {
    /// The container.
    pub container_id: String,
    /// The graphdriver id of the read-write layer.
    pub mount_id: String,
    /// The graphdriver id of the init layer (`<mount_id>-init`).
    pub init_id: String,
    /// The image's top layer (chain id) below the init layer; none for an empty image.
    pub parent: Option<Digest>,
}

pub(crate) fn layer_dir(root: &Path, chain: &Digest) -> PathBuf {
    root.join("layerdb/sha256").join(chain.hex())
}

fn read_trim(p: &Path) -> Result<String> {
    Ok(fs::read_to_string(p).at(p)?.trim().to_string())
}

/// The layer's original uncompressed tar, kept so that `save` reproduces its diff id byte for
/// byte: split (its file contents left to the layer, [`crate::split`]), or whole when it could
/// not be split. See docs/storage.md.
pub(crate) const LAYER_TAR: &str = "layer.tar";
pub(crate) const LAYER_SPLIT: &str = "layer.tar-split";

/// Where a layer's kept tar of this kind goes in its record `dir`.
pub(crate) fn kept_path(dir: &Path, kept: &KeptTar) -> PathBuf {
    dir.join(match kept {
        KeptTar::Whole(_) => LAYER_TAR,
        KeptTar::Split(_) => LAYER_SPLIT,
    })
}

/// The kept tar in a layer's record `dir`, if any.
pub(crate) fn kept_tar(dir: &Path) -> Option<KeptTar> {
    let split = dir.join(LAYER_SPLIT);
    if split.exists() {
        return Some(KeptTar::Split(split));
    }
    let whole = dir.join(LAYER_TAR);
    whole.exists().then_some(KeptTar::Whole(whole))
}

/// Writes a layer's record into a temp dir, moves the kept `tar` in beside it and renames the
/// dir into place: a record is either absent or complete. Nothing is flushed here. A layer
/// counts only once an image refers to it, and the commit point that writes that image
/// ([`crate::fsutil::write_commit`]) flushes the whole filesystem first: this record, the tar
/// and the layer's contents. A layer that a crash caught before that commit is referenced by
/// nothing, and the daemon collects unreferenced layers when it starts (a record left
/// incomplete is dropped when the store opens).
pub(crate) fn write_layer(root: &Path, l: &LayerMeta, tar: Option<&KeptTar>) -> Result<()> {
    let base = root.join("layerdb/sha256");
    fs::create_dir_all(&base).at(&base)?;
    let tmp = base.join(format!("{}-tmp-{}", l.chain_id.hex(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).at(&tmp)?;
    let mut files = vec![
        ("diff", l.diff_id.as_str().to_string()),
        ("size", l.size.to_string()),
        ("cache-id", l.cache_id.clone()),
    ];
    if let Some(p) = &l.parent {
        files.push(("parent", p.as_str().to_string()));
    }
    for (name, content) in files {
        let p = tmp.join(name);
        fs::write(&p, content).at(&p)?;
    }
    if let Some(t) = tar {
        fs::rename(t.path(), kept_path(&tmp, t)).at(t.path())?;
    }
    let dst = layer_dir(root, &l.chain_id);
    fs::rename(&tmp, &dst).at(&dst)
}

pub(crate) fn read_layer(dir: &Path) -> Result<LayerMeta> {
    let parent_file = dir.join("parent");
    let parent = if parent_file.exists() {
        Some(read_trim(&parent_file)?.parse()?)
    } else {
        None
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(LayerMeta {
        chain_id: Digest::from_hex(&name)?,
        diff_id: read_trim(&dir.join("diff"))?.parse()?,
        parent,
        cache_id: read_trim(&dir.join("cache-id"))?,
        size: read_trim(&dir.join("size"))?.parse().unwrap_or(0),
    })
}

pub(crate) fn mount_dir(root: &Path, container_id: &str) -> PathBuf {
    root.join("layerdb/mounts").join(container_id)
}

/// Not durable by itself: the daemon syncs the filesystem before it commits the container
/// record that refers to this one.
pub(crate) fn write_mount(root: &Path, m: &MountMeta) -> Result<()> {
    let dir = mount_dir(root, &m.container_id);
    fs::create_dir_all(&dir).at(&dir)?;
    write_replace(&dir.join("mount-id"), m.mount_id.as_bytes())?;
    write_replace(&dir.join("init-id"), m.init_id.as_bytes())?;
    if let Some(p) = &m.parent {
        write_replace(&dir.join("parent"), p.as_str().as_bytes())?;
    }
    Ok(())
}

pub(crate) fn read_mount(dir: &Path) -> Result<MountMeta> {
    let parent_file = dir.join("parent");
    let parent = if parent_file.exists() {
        Some(read_trim(&parent_file)?.parse()?)
    } else {
        None
    };
    Ok(MountMeta {
        container_id: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        mount_id: read_trim(&dir.join("mount-id"))?,
        init_id: read_trim(&dir.join("init-id"))?,
        parent,
    })
}
