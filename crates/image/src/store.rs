use crate::error::IoContext;
use crate::fsutil::{write_atomic, write_commit, write_replace};
use crate::layers::{self, LayerMeta, MountMeta};
use crate::KeptTar;
use crate::{Digest, Error, Reference, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The layers' diff ids, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An image config (the JSON whose sha256 is the image id). Unknown fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, `linux`.
    #[serde(default)]
    pub os: String,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment (e.g. `Imported from -`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The default container config (Docker's PascalCase `Config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// The layers.
    #[serde(default)]
    pub rootfs: RootFs,
    /// One entry per build step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Value>,
    /// Anything else, preserved.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageConfig {
    /// The chain ids of the image's layers, bottom first.
    pub fn chain_ids(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::with_capacity(self.rootfs.diff_ids.len());
        for d in &self.rootfs.diff_ids {
            out.push(crate::chain_id(out.last(), d));
        }
        out
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

/// Where a layer is in a registry: one entry of Docker's `v2metadata-by-diffid` (whose `HMAC`
/// is kept empty, as Docker does without credentials), with the blob's media type added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSource {
    /// The blob's digest (`sha256:…`).
    #[serde(rename = "Digest")]
    pub digest: String,
    /// `host/path` of the repository (`docker.io/library/busybox`, `localhost:5000/app`).
    #[serde(rename = "SourceRepository")]
    pub repository: String,
    /// Docker's keyed hash of the credentials used; empty here.
    #[serde(rename = "HMAC", default)]
    pub hmac: String,
    /// Empty in records Docker wrote.
    #[serde(
        rename = "MediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
}

impl BlobSource {
    /// Blob `digest` of type `media_type` in repository `repository` (`host/path`).
    pub fn new(digest: &str, repository: &str, media_type: &str) -> Self {
        Self {
            digest: digest.to_string(),
            repository: repository.to_string(),
            hmac: String::new(),
            media_type: media_type.to_string(),
        }
    }
}

/// Registry locations kept per layer.
pub const BLOB_SOURCES_MAX: usize = 50;

#[derive(Default)]
struct State {
    /// Layers a load or pull has ingested but no image refers to yet: safe from collection.
    held: HashMap<Digest, usize>,
    images: HashMap<Digest, ImageConfig>,
    /// Image -> the image it was committed from (Docker's `imagedb/metadata/sha256/<id>/parent`).
    parents: HashMap<Digest, Digest>,
    repos: Repositories,
    layers: HashMap<Digest, LayerMeta>,
    mounts: HashMap<String, MountMeta>,
}

/// The image and layer metadata store rooted at `image/<driver>/`. All methods are
/// synchronous and do file I/O: call them from blocking contexts.
pub struct ImageStore {
    root: PathBuf,
    state: Mutex<State>,
    /// Serialises the read-modify-write of `v2metadata-by-diffid` hints.
    hints: Mutex<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store and loads all metadata into memory.
    pub fn open(root: &Path) -> Result<Self> {
        for d in [
            "imagedb/content/sha256",
            "imagedb/metadata/sha256",
            "layerdb/sha256",
            "layerdb/mounts",
            "tmp",
        ] {
            let p = root.join(d);
            fs::create_dir_all(&p).at(&p)?;
        }
        // Scratch files and directories of an interrupted ingest or load (or of one whose
        // scratch space was still being deleted when the daemon stopped).
        for e in fs::read_dir(root.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path();
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                _ => fs::remove_file(&p),
            };
        }
        let mut st = State::default();
        let content = root.join("imagedb/content/sha256");
        for e in fs::read_dir(&content).at(&content)? {
            let p = e.at(&content)?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(id) = Digest::from_hex(&name) else {
                continue;
            }; // temp files
            let bytes = fs::read(&p).at(&p)?;
            if Digest::of(&bytes) != id {
                tracing::warn!(image_id = %id, "image config does not match its id; ignored");
                continue;
            }
            st.images.insert(
                id,
                serde_json::from_slice(&bytes).map_err(Error::InvalidConfig)?,
            );
        }
        let metadata = root.join("imagedb/metadata/sha256");
        for e in fs::read_dir(&metadata).at(&metadata)? {
            let dir = e.at(&metadata)?.path();
            let id = dir
                .file_name()
                .and_then(|n| Digest::from_hex(&n.to_string_lossy()).ok());
            match id.filter(|id| st.images.contains_key(id)) {
                Some(id) => {
                    let parent = fs::read_to_string(dir.join("parent")).ok();
                    let parent = parent.and_then(|p| p.trim().parse::<Digest>().ok());
                    if let Some(p) = parent.filter(|p| st.images.contains_key(p)) {
                        st.parents.insert(id, p);
                    }
                }
                // Left by a commit cut short before its image was stored, or by a delete.
                None => {
                    let _ = fs::remove_dir_all(&dir);
                }
            }
        }
        let repos = root.join("repositories.json");
        if repos.exists() {
            st.repos = serde_json::from_slice(&fs::read(&repos).at(&repos)?)
                .map_err(Error::InvalidConfig)?;
        }
        let ldb = root.join("layerdb/sha256");
        for e in fs::read_dir(&ldb).at(&ldb)? {
            let p = e.at(&ldb)?.path();
            match layers::read_layer(&p) {
                Ok(l) => {
                    st.layers.insert(l.chain_id.clone(), l);
                }
                Err(_) => {
                    tracing::warn!(path = %p.display(), "removing incomplete layer metadata");
                    let _ = fs::remove_dir_all(&p);
                }
            }
        }
        let mdb = root.join("layerdb/mounts");
        for e in fs::read_dir(&mdb).at(&mdb)? {
            let p = e.at(&mdb)?.path();
            if let Ok(m) = layers::read_mount(&p) {
                st.mounts.insert(m.container_id.clone(), m);
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            state: Mutex::new(st),
            hints: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("image store lock poisoned by a panic")
    }

    /// Stores an image config and points `references` at it, with one flush of the filesystem
    /// for the config, the layers written before and the tags: the new `repositories.json` is
    /// the commit point (the config itself when there are no references). On error the
    /// references are left as they were.
    pub fn put_image(&self, bytes: &[u8], references: &[Reference]) -> Result<Digest> {
        self.put_child_image(bytes, references, None)
    }

    /// [`Self::put_image`] for an image made from another one (a commit of a container of
    /// image `parent`): Docker's parent link, which `docker history` follows and which keeps
    /// the parent from being deleted while the child exists. It is written before the commit
    /// point, which flushes it with the rest.
    pub fn put_child_image(
        &self,
        bytes: &[u8],
        references: &[Reference],
        parent: Option<&Digest>,
    ) -> Result<Digest> {
        let cfg: ImageConfig = serde_json::from_slice(bytes).map_err(Error::InvalidConfig)?;
        let id = Digest::of(bytes);
        let path = self.root.join("imagedb/content/sha256").join(id.hex());
        // Under the lock, so that a concurrent delete cannot remove the config (or the
        // parent) in between.
        let mut st = self.lock();
        let parent = parent
            .filter(|p| **p != id && st.images.contains_key(*p))
            .cloned();
        if let Some(p) = &parent {
            let dir = self.root.join("imagedb/metadata/sha256").join(id.hex());
            fs::create_dir_all(&dir).at(&dir)?;
            write_replace(&dir.join("parent"), p.as_str().as_bytes())?;
        }
        if references.is_empty() {
            write_commit(&path, bytes)?;
            st.images.insert(id.clone(), cfg);
            if let Some(p) = parent {
                st.parents.insert(id.clone(), p);
            }
            return Ok(id);
        }
        // A config stored already (an image loaded again) is not rewritten: an earlier commit
        // made it durable, and a torn copy would differ. The commit below still runs: it is
        // what flushes the layers (or kept tars) this operation wrote.
        let stored = st.images.contains_key(&id) && fs::read(&path).is_ok_and(|old| old == bytes);
        if !stored {
            // Visible (renamed) before it is durable: the commit below flushes it first.
            write_replace(&path, bytes)?;
        }
        let repos = pointed(&st, references, &id);
        self.set_repos(&mut st, repos, write_commit)?;
        // Listed only once committed: a listed image is a durable one (see `add_references`).
        st.images.insert(id.clone(), cfg);
        if let Some(p) = parent {
            st.parents.insert(id.clone(), p);
        }
        Ok(id)
    }

    /// The image `id` was committed from, if it has one.
    pub fn parent(&self, id: &Digest) -> Option<Digest> {
        self.lock().parents.get(id).cloned()
    }

    /// The images committed from image `id`.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        let st = self.lock();
        let mut out: Vec<Digest> = st
            .parents
            .iter()
            .filter(|(_, p)| *p == id)
            .map(|(c, _)| c.clone())
            .collect();
        out.sort();
        out
    }

    /// Points `references` at image `id`, which is stored (durably) already with its layers:
    /// nothing else needs flushing, so this is a plain atomic write, and none at all when they
    /// point there already (a pull of an image that is up to date).
    pub fn add_references(&self, id: &Digest, references: &[Reference]) -> Result<()> {
        let mut st = self.lock();
        if !st.images.contains_key(id) {
            return Err(Error::ImageNotFound(id.to_string()));
        }
        let repos = pointed(&st, references, id);
        if repos == st.repos.repositories {
            return Ok(());
        }
        self.set_repos(&mut st, repos, write_atomic)
    }

    /// The config of an image exactly as stored (its sha256 is the id).
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        let p = self.root.join("imagedb/content/sha256").join(id.hex());
        fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ImageNotFound(id.to_string()),
            _ => Error::Io { path: p, source: e },
        })
    }

    /// The config of an image.
    pub fn get(&self, id: &Digest) -> Result<ImageConfig> {
        self.lock()
            .images
            .get(id)
            .cloned()
            .ok_or_else(|| Error::ImageNotFound(id.to_string()))
    }

    /// All images.
    pub fn list(&self) -> Vec<(Digest, ImageConfig)> {
        self.lock()
            .images
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Resolves a name the way Docker does: `repo[:tag]`, `sha256:<id>`, or a unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        let st = self.lock();
        if let Ok(d) = name.parse::<Digest>() {
            if st.images.contains_key(&d) {
                return Ok(d);
            }
        }
        if let Ok(r) = Reference::parse(name) {
            if let Some(id) = st
                .repos
                .repositories
                .get(&r.repo)
                .and_then(|m| m.get(&r.key()))
            {
                return id.parse();
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Digest> = st
                .images
                .keys()
                .filter(|d| d.hex().starts_with(hex))
                .collect();
            match hits.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => return Err(Error::Ambiguous(name.to_string())),
            }
        }
        Err(Error::ImageNotFound(name.to_string()))
    }

    /// Points `reference` at image `id` (moving it if it pointed elsewhere).
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<()> {
        let mut st = self.lock();
        let repos = pointed(&st, std::slice::from_ref(reference), id);
        if repos == st.repos.repositories {
            return Ok(()); // already so
        }
        self.set_repos(&mut st, repos, write_atomic)
    }

    /// Removes one reference; returns whether it existed.
    pub fn untag(&self, reference: &Reference) -> Result<bool> {
        let mut st = self.lock();
        let mut repos = st.repos.repositories.clone();
        let Some(m) = repos.get_mut(&reference.repo) else {
            return Ok(false);
        };
        let existed = m.remove(&reference.key()).is_some();
        if m.is_empty() {
            repos.remove(&reference.repo);
        }
        self.set_repos(&mut st, repos, write_atomic)?;
        Ok(existed)
    }

    /// The references (`repo:tag` and `repo@digest`) pointing at an image, sorted.
    pub fn references(&self, id: &Digest) -> Vec<String> {
        let st = self.lock();
        let mut out: Vec<String> = st
            .repos
            .repositories
            .values()
            .flat_map(|m| m.iter())
            .filter(|(_, v)| v.as_str() == id.as_str())
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Makes `repos` the references, on disk (with `write`: [`write_atomic`], or
    /// [`write_commit`] when it is the commit point of more) and then in memory; on error both
    /// stay as they were.
    fn set_repos(
        &self,
        st: &mut State,
        repos: BTreeMap<String, BTreeMap<String, String>>,
        write: fn(&Path, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let new = Repositories {
            repositories: repos,
        };
        let bytes = serde_json::to_vec(&new).expect("repositories always serialise");
        write(&self.root.join("repositories.json"), &bytes)?;
        st.repos = new;
        Ok(())
    }

    /// Deletes an image config and its references. Layers stay until [`Self::unreferenced_layers`].
    /// An image others were committed from is not deleted ([`Error::HasChildren`]).
    pub fn delete(&self, id: &Digest) -> Result<()> {
        let mut st = self.lock();
        if st.parents.values().any(|p| p == id) {
            return Err(Error::HasChildren(id.clone()));
        }
        let mut repos = st.repos.repositories.clone();
        for m in repos.values_mut() {
            m.retain(|_, v| v.as_str() != id.as_str());
        }
        repos.retain(|_, m| !m.is_empty());
        self.set_repos(&mut st, repos, write_atomic)?;
        let p = self.root.join("imagedb/content/sha256").join(id.hex());
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io { path: p, source: e })
            }
            _ => {}
        }
        let _ = fs::remove_dir_all(self.root.join("imagedb/metadata/sha256").join(id.hex()));
        st.images.remove(id);
        st.parents.remove(id);
        Ok(())
    }

    /// A layer's metadata.
    pub fn layer(&self, chain_id: &Digest) -> Option<LayerMeta> {
        self.lock().layers.get(chain_id).cloned()
    }

    /// Records a layer whose contents the graphdriver holds under `cache_id`.
    pub fn register_layer(&self, layer: LayerMeta) -> Result<()> {
        self.register_layer_with_tar(layer, None)
    }

    /// Records a layer and moves its kept original tar (on the store's filesystem, e.g. under
    /// [`Self::tmp_dir`]) in beside the record.
    pub fn register_layer_with_tar(&self, layer: LayerMeta, tar: Option<&KeptTar>) -> Result<()> {
        layers::write_layer(&self.root, &layer, tar)?;
        self.lock().layers.insert(layer.chain_id.clone(), layer);
        Ok(())
    }

    /// Layers no image and no container uses any more, top layers first: the caller removes
    /// their contents, then calls [`Self::remove_layer`].
    pub fn unreferenced_layers(&self) -> Vec<LayerMeta> {
        let st = self.lock();
        let mut used: HashSet<Digest> = st.images.values().flat_map(|c| c.chain_ids()).collect();
        for h in st.held.keys() {
            let mut cur = Some(h.clone());
            while let Some(c) = cur {
                cur = st.layers.get(&c).and_then(|l| l.parent.clone());
                used.insert(c);
            }
        }
        for m in st.mounts.values() {
            let mut cur = m.parent.clone();
            while let Some(c) = cur {
                cur = st.layers.get(&c).and_then(|l| l.parent.clone());
                used.insert(c);
            }
        }
        let mut out: Vec<LayerMeta> = st
            .layers
            .values()
            .filter(|l| !used.contains(&l.chain_id))
            .cloned()
            .collect();
        // Children before parents: a layer's depth is the length of its parent chain.
        let depth = |l: &LayerMeta| {
            let (mut n, mut cur) = (0, l.parent.clone());
            while let Some(c) = cur {
                n += 1;
                cur = st.layers.get(&c).and_then(|p| p.parent.clone());
            }
            n
        };
        out.sort_by_key(|l| std::cmp::Reverse(depth(l)));
        out
    }

    /// The original tar of a layer, when the store kept one.
    pub fn layer_tar(&self, chain_id: &Digest) -> Option<KeptTar> {
        layers::kept_tar(&layers::layer_dir(&self.root, chain_id))
    }

    /// Keeps `tar` as the original of an already recorded layer that has none. A split one
    /// fits every layer with the same chain id: it names files by their path in the layer.
    pub fn attach_layer_tar(&self, chain_id: &Digest, tar: &KeptTar) -> Result<()> {
        let dst = layers::kept_path(&layers::layer_dir(&self.root, chain_id), tar);
        fs::rename(tar.path(), &dst).at(&dst)
    }

    /// Remembers that registry blob `blob` (a compressed layer, `sha256:…`) unpacks to
    /// `diff_id`, in Docker's `distribution/diffid-by-digest/sha256/<hex>`. Only a hint for
    /// later pulls (which layer to start downloading before the image config arrives): written
    /// without fsync, and a failure to write it is only logged.
    pub fn set_blob_diff_id(&self, blob: &str, diff_id: &Digest) {
        let Some(path) = self.blob_diff_id_path(blob) else {
            return;
        };
        if self.blob_diff_id(blob).as_ref() == Some(diff_id) {
            return; // unchanged (a layer pulled again)
        }
        let written = path
            .parent()
            .map_or(Ok(()), |d| std::fs::create_dir_all(d).at(d))
            .and_then(|()| write_replace(&path, diff_id.as_str().as_bytes()));
        if let Err(e) = written {
            tracing::debug!(blob, error = %e, "blob to diff id hint not written");
        }
    }

    /// Remembers that `diff_id` is in registry repository `repository` (`host/path`) as blob
    /// `digest` of media type `media_type`, pulled or pushed just now, in Docker's
    /// `distribution/v2metadata-by-diffid/sha256/<hex>` (newest last, at most
    /// [`BLOB_SOURCES_MAX`]). Lets a push mount or skip a blob the registry has, instead of
    /// compressing and uploading the layer again. A hint like [`Self::set_blob_diff_id`].
    pub fn add_blob_source(&self, diff_id: &Digest, source: BlobSource) {
        let _one_at_a_time = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.blob_sources_path(diff_id);
        let mut all = self.blob_sources(diff_id);
        all.reverse(); // oldest first, as stored
        if all.last() == Some(&source) {
            return; // unchanged
        }
        all.retain(|s| !(s.digest == source.digest && s.repository == source.repository));
        all.push(source);
        let drop = all.len().saturating_sub(BLOB_SOURCES_MAX);
        all.drain(..drop);
        let bytes = serde_json::to_vec(&all).expect("blob sources always serialise");
        let written = path
            .parent()
            .map_or(Ok(()), |d| std::fs::create_dir_all(d).at(d))
            .and_then(|()| write_replace(&path, &bytes));
        if let Err(e) = written {
            tracing::debug!(%diff_id, error = %e, "blob source hint not written");
        }
    }

    /// Forgets that `repository` has layer `diff_id` as blob `digest` (it answered otherwise).
    pub fn remove_blob_source(&self, diff_id: &Digest, digest: &str, repository: &str) {
        let _one_at_a_time = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.blob_sources(diff_id);
        let before = all.len();
        all.retain(|s| !(s.digest == digest && s.repository == repository));
        if all.len() == before {
            return;
        }
        all.reverse(); // oldest first, as stored
        let bytes = serde_json::to_vec(&all).expect("blob sources always serialise");
        if let Err(e) = write_replace(&self.blob_sources_path(diff_id), &bytes) {
            tracing::debug!(%diff_id, error = %e, "blob source hint not written");
        }
    }

    /// Where layer `diff_id` was last seen in registries, newest first.
    pub fn blob_sources(&self, diff_id: &Digest) -> Vec<BlobSource> {
        let mut all: Vec<BlobSource> = std::fs::read(self.blob_sources_path(diff_id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        all.reverse();
        all
    }

    fn blob_sources_path(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("distribution/v2metadata-by-diffid/sha256")
            .join(diff_id.hex())
    }

    /// The diff id registry blob `blob` unpacked to when it was last pulled or pushed.
    pub fn blob_diff_id(&self, blob: &str) -> Option<Digest> {
        let text = std::fs::read_to_string(self.blob_diff_id_path(blob)?).ok()?;
        text.trim().parse().ok()
    }

    fn blob_diff_id_path(&self, blob: &str) -> Option<PathBuf> {
        let hex = blob.strip_prefix("sha256:")?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| {
            self.root
                .join("distribution/diffid-by-digest/sha256")
                .join(hex)
        })
    }

    /// Scratch space on the store's filesystem (renames from here into the store are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Protects a layer (and those below it) from [`Self::unreferenced_layers`] until the
    /// returned hold is dropped: for layers ingested before the image that uses them exists.
    pub fn hold(self: &std::sync::Arc<Self>, chain_id: &Digest) -> LayerHold {
        *self.lock().held.entry(chain_id.clone()).or_default() += 1;
        LayerHold {
            store: self.clone(),
            chain_id: chain_id.clone(),
        }
    }

    /// Forgets a layer's metadata.
    pub fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        remove_dir_if_present(&layers::layer_dir(&self.root, chain_id))?;
        self.lock().layers.remove(chain_id);
        Ok(())
    }

    /// Records a container's layers.
    pub fn put_mount(&self, m: MountMeta) -> Result<()> {
        layers::write_mount(&self.root, &m)?;
        self.lock().mounts.insert(m.container_id.clone(), m);
        Ok(())
    }

    /// A container's layers.
    pub fn mount(&self, container_id: &str) -> Option<MountMeta> {
        self.lock().mounts.get(container_id).cloned()
    }

    /// Every container layer record.
    pub fn mounts(&self) -> Vec<MountMeta> {
        self.lock().mounts.values().cloned().collect()
    }

    /// Forgets a container's layers.
    pub fn remove_mount(&self, container_id: &str) -> Result<()> {
        remove_dir_if_present(&layers::mount_dir(&self.root, container_id))?;
        self.lock().mounts.remove(container_id);
        Ok(())
    }
}

/// Removes a directory tree; one already gone is fine.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// See [`ImageStore::hold`].
pub struct LayerHold {
    store: std::sync::Arc<ImageStore>,
    chain_id: Digest,
}

impl Drop for LayerHold {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        if let Some(n) = st.held.get_mut(&self.chain_id) {
            *n -= 1;
            if *n == 0 {
                st.held.remove(&self.chain_id);
            }
        }
    }
}

/// The references of `st` with `references` pointing at image `id` (moved if they pointed
/// elsewhere).
fn pointed(
    st: &State,
    references: &[Reference],
    id: &Digest,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut repos = st.repos.repositories.clone();
    for r in references {
        repos
            .entry(r.repo.clone())
            .or_default()
            .insert(r.key(), id.to_string());
    }
    repos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(diff_ids: &[&Digest]) -> Vec<u8> {
        let cfg = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: diff_ids.iter().map(|d| (*d).clone()).collect(),
            },
            ..Default::default()
        };
        serde_json::to_vec(&cfg).unwrap()
    }

    fn layer(chain: &Digest, diff: &Digest, parent: Option<&Digest>) -> LayerMeta {
        LayerMeta {
            chain_id: chain.clone(),
            diff_id: diff.clone(),
            parent: parent.cloned(),
            cache_id: "c".repeat(64),
            size: 3,
        }
    }

    #[test]
    fn images_tags_and_layers_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let diff = Digest::of(b"layer");
        let id = {
            let s = ImageStore::open(dir.path()).unwrap();
            s.register_layer(layer(&diff, &diff, None)).unwrap();
            let id = s.put_image(&config(&[&diff]), &[]).unwrap();
            s.tag(&Reference::parse("busybox").unwrap(), &id).unwrap();
            id
        };
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(s.resolve("busybox").unwrap(), id);
        assert_eq!(s.resolve("busybox:latest").unwrap(), id);
        assert_eq!(s.resolve(&id.hex()[..12]).unwrap(), id);
        assert_eq!(s.resolve(id.as_str()).unwrap(), id);
        assert!(matches!(s.resolve("nosuch"), Err(Error::ImageNotFound(_))));
        assert_eq!(s.references(&id), vec!["busybox:latest".to_string()]);
        assert_eq!(s.layer(&diff).unwrap().size, 3);
        assert!(s.unreferenced_layers().is_empty());
    }

    #[test]
    fn parents_survive_reopen_and_guard_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let diff = Digest::of(b"layer");
        let s = ImageStore::open(dir.path()).unwrap();
        s.register_layer(layer(&diff, &diff, None)).unwrap();
        let base = s.put_image(&config(&[&diff]), &[]).unwrap();
        let mut child_cfg: ImageConfig = serde_json::from_slice(&config(&[&diff])).unwrap();
        child_cfg.comment = Some("child".into());
        let child_bytes = serde_json::to_vec(&child_cfg).unwrap();
        let refs = [Reference::parse("child:1").unwrap()];
        let child = s.put_child_image(&child_bytes, &refs, Some(&base)).unwrap();
        // A parent that is not stored is not recorded.
        let gone = Digest::of(b"gone");
        let orphan_cfg = ImageConfig {
            comment: Some("orphan".into()),
            ..child_cfg.clone()
        };
        let orphan = s
            .put_child_image(&serde_json::to_vec(&orphan_cfg).unwrap(), &[], Some(&gone))
            .unwrap();
        assert_eq!(s.parent(&orphan), None);
        // Metadata of an image that is not stored (a commit cut short) goes at the next open.
        let stray = dir.path().join("imagedb/metadata/sha256").join(gone.hex());
        fs::create_dir_all(&stray).unwrap();

        let s = ImageStore::open(dir.path()).unwrap();
        assert!(!stray.exists());
        assert_eq!(s.parent(&child), Some(base.clone()));
        assert_eq!(s.children(&base), vec![child.clone()]);
        assert!(matches!(s.delete(&base), Err(Error::HasChildren(id)) if id == base));
        s.delete(&child).unwrap();
        assert!(s.children(&base).is_empty());
        s.delete(&base).unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        assert!(matches!(s.get(&base), Err(Error::ImageNotFound(_))));
    }

    #[test]
    fn blob_sources_are_kept_newest_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let diff = Digest::of(b"layer");
        assert!(s.blob_sources(&diff).is_empty());
        let src = |d: &str, repo: &str| {
            BlobSource::new(d, repo, "application/vnd.docker.image.rootfs.diff.tar.gzip")
        };
        s.add_blob_source(&diff, src("sha256:a", "localhost:5000/x"));
        s.add_blob_source(&diff, src("sha256:a", "localhost:5000/y"));
        s.add_blob_source(&diff, src("sha256:a", "localhost:5000/x"));
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(
            s.blob_sources(&diff),
            vec![
                src("sha256:a", "localhost:5000/x"),
                src("sha256:a", "localhost:5000/y")
            ]
        );
        for i in 0..BLOB_SOURCES_MAX + 5 {
            s.add_blob_source(&diff, src(&format!("sha256:{i}"), "localhost:5000/x"));
        }
        let all = s.blob_sources(&diff);
        assert_eq!(all.len(), BLOB_SOURCES_MAX);
        assert_eq!(all[0].digest, format!("sha256:{}", BLOB_SOURCES_MAX + 4));
        // Docker's records (no media type) are read too.
        let docker =
            r#"[{"Digest":"sha256:d","SourceRepository":"docker.io/library/busybox","HMAC":""}]"#;
        fs::write(s.blob_sources_path(&diff), docker).unwrap();
        assert_eq!(s.blob_sources(&diff)[0].media_type, "");
    }

    /// An image stored again keeps its config file (its references are committed again: that
    /// commit flushes what the operation wrote); references or tags that point where they
    /// point already rewrite nothing.
    #[test]
    fn storing_an_image_again_rewrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let diff = Digest::of(b"layer");
        let s = ImageStore::open(dir.path()).unwrap();
        s.register_layer(layer(&diff, &diff, None)).unwrap();
        let refs = [Reference::parse("app:v1").unwrap()];
        let id = s.put_image(&config(&[&diff]), &refs).unwrap();
        let files = [
            dir.path().join("repositories.json"),
            dir.path().join("imagedb/content/sha256").join(id.hex()),
        ];
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let before: Vec<u64> = files.iter().map(|p| inode(p)).collect();
        assert_eq!(s.put_image(&config(&[&diff]), &refs).unwrap(), id);
        assert_eq!(inode(&files[1]), before[1], "the config was rewritten");
        assert_ne!(
            inode(&files[0]),
            before[0],
            "the references were not committed"
        );
        let before: Vec<u64> = files.iter().map(|p| inode(p)).collect();
        s.tag(&refs[0], &id).unwrap();
        s.add_references(&id, &refs).unwrap();
        let after: Vec<u64> = files.iter().map(|p| inode(p)).collect();
        assert_eq!(before, after, "a file was replaced");
        assert!(matches!(
            s.add_references(&Digest::of(b"no such image"), &refs),
            Err(Error::ImageNotFound(_))
        ));
        // A new reference is written, and the config kept.
        s.tag(&Reference::parse("app:v2").unwrap(), &id).unwrap();
        assert_ne!(inode(&files[0]), before[0]);
        assert_eq!(s.resolve("app:v2").unwrap(), id);
        assert_eq!(inode(&files[1]), before[1]);
    }

    /// What an interrupted load, pull or ingest left in the scratch space, files and whole
    /// directories, is gone once the store is opened again.
    #[test]
    fn open_empties_the_scratch_space() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = ImageStore::open(dir.path()).unwrap().tmp_dir();
        fs::create_dir_all(tmp.join("load-x/blobs/sha256")).unwrap();
        fs::write(tmp.join("load-x/blobs/sha256/abc"), b"blob").unwrap();
        fs::write(tmp.join("blob-y"), b"blob").unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn put_image_stores_config_and_all_references_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let diff = Digest::of(b"layer");
        let refs = [
            Reference::parse("app:v1").unwrap(),
            Reference::parse(&format!("app@sha256:{}", "a".repeat(64))).unwrap(),
        ];
        let id = {
            let s = ImageStore::open(dir.path()).unwrap();
            s.register_layer(layer(&diff, &diff, None)).unwrap();
            s.put_image(&config(&[&diff]), &refs).unwrap()
        };
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(s.resolve("app:v1").unwrap(), id);
        assert_eq!(s.references(&id).len(), 2);
        assert!(s.get(&id).is_ok());
        assert!(s.put_image(b"not json", &refs).is_err());
        assert_eq!(
            s.references(&id).len(),
            2,
            "a failed put changes no reference"
        );
    }

    #[test]
    fn held_layers_are_not_collected() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(ImageStore::open(dir.path()).unwrap());
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let top = crate::chain_id(Some(&a), &b);
        s.register_layer(layer(&a, &a, None)).unwrap();
        s.register_layer(layer(&top, &b, Some(&a))).unwrap();
        let hold = s.hold(&top);
        assert!(
            s.unreferenced_layers().is_empty(),
            "a held layer and its parent stay"
        );
        let again = s.hold(&top);
        drop(hold);
        assert!(s.unreferenced_layers().is_empty(), "still held once");
        drop(again);
        assert_eq!(s.unreferenced_layers().len(), 2);
    }

    #[test]
    fn layers_are_released_when_no_image_or_container_uses_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let top = crate::chain_id(Some(&a), &b);
        s.register_layer(layer(&a, &a, None)).unwrap();
        s.register_layer(layer(&top, &b, Some(&a))).unwrap();
        let id = s.put_image(&config(&[&a, &b]), &[]).unwrap();
        s.put_mount(MountMeta {
            container_id: "c1".into(),
            mount_id: "m".into(),
            init_id: "m-init".into(),
            parent: Some(top.clone()),
        })
        .unwrap();
        s.delete(&id).unwrap();
        assert!(
            s.unreferenced_layers().is_empty(),
            "the container still uses both layers"
        );
        s.remove_mount("c1").unwrap();
        let gone: Vec<Digest> = s
            .unreferenced_layers()
            .into_iter()
            .map(|l| l.chain_id)
            .collect();
        assert_eq!(gone, vec![top, a], "top layer first");
    }

    #[test]
    fn blob_diff_id_hints_survive_reopen_and_refuse_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let blob = Digest::of(b"compressed").to_string();
        let diff = Digest::of(b"layer");
        ImageStore::open(dir.path())
            .unwrap()
            .set_blob_diff_id(&blob, &diff);
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(s.blob_diff_id(&blob), Some(diff.clone()));
        assert_eq!(s.blob_diff_id(&Digest::of(b"other").to_string()), None);
        // Not a sha256 digest: neither written nor read (no path outside the store).
        s.set_blob_diff_id("sha256:../../escape", &diff);
        assert_eq!(s.blob_diff_id("sha256:../../escape"), None);
        assert!(!dir.path().join("escape").exists());
    }
}
