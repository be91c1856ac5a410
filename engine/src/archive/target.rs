//! Archive targets: where sealed segments are copied before local retention
//! may drop them, and the synchronous client that talks to them.
//!
//! [`ArchiveTarget`] is configuration (none, a local directory, or an
//! S3-compatible bucket); [`ObjectArchive`] is an opened target offering
//! whole-object `put`, `get`, `exists`, `list` and `delete` over the
//! `object_store` crate.
//!
//! # Invariants
//!
//! - Keys are `/`-separated and relative to the target's root (the local
//!   directory, or the bucket plus its prefix). A key has no empty segment,
//!   no `.` or `..` segment and no control character; anything else is
//!   rejected before a request is made.
//! - A `put` is atomic: a reader sees the whole object or none of it. On a
//!   local target the file and its directory are fsynced before `put`
//!   returns, so an acknowledged archive copy survives a crash.
//! - Every call blocks the calling thread and runs on the archive's own
//!   tokio runtime, never the caller's: it works from a plain thread and from
//!   a tokio `spawn_blocking` closure. A remote call is bounded by
//!   [`ArchiveOptions`] (per-request timeout, retries with backoff, a
//!   deadline for retrying).
//! - Every failure is an [`Error::Archive`] naming the object's location
//!   (`s3://bucket/prefix/key` or `/abs/dir/key`); nothing here panics on
//!   bad input or a bad network.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::{Deserialize, Serialize};
use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

/// Where archived segments go. Deserialised from the server's config too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ArchiveTarget {
    /// No archive: segments are never copied anywhere.
    #[default]
    None,
    /// A local directory (created if missing).
    Local {
        /// The directory; relative paths are resolved against the working
        /// directory when the target is opened.
        path: PathBuf,
    },
    /// An S3-compatible object store.
    ///
    /// Settings left out are taken from the environment as the AWS tools
    /// read them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, ...); settings
    /// given here win over the environment.
    S3 {
        /// The bucket, which must exist.
        bucket: String,
        /// Prepended to every key, `/`-separated, for example `stele/prod`.
        #[serde(default)]
        prefix: String,
        /// The service's URL, for example `http://127.0.0.1:9000`; `None`
        /// means AWS. Setting it switches to path-style requests.
        #[serde(default)]
        endpoint: Option<String>,
        /// The region; `us-east-1` when neither this nor the environment
        /// names one.
        #[serde(default)]
        region: Option<String>,
        /// The access key id.
        #[serde(default)]
        access_key_id: Option<String>,
        /// The secret access key.
        #[serde(default)]
        secret_access_key: Option<String>,
        /// Allows a plain `http://` endpoint (test servers, a local MinIO).
        #[serde(default)]
        allow_http: bool,
    },
}

/// How patiently an [`ObjectArchive`] talks to a remote store. Local targets
/// ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// Limit on one HTTP request, from connecting to the end of the
    /// response body. Default 60 s.
    pub request_timeout: Duration,
    /// Limit on establishing one connection. Default 5 s.
    pub connect_timeout: Duration,
    /// How many times a failed request is retried (refused connection,
    /// 5xx, throttling), with exponential backoff. Default 10.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt. Default
    /// 3 min.
    pub retry_timeout: Duration,
}

impl Default for ArchiveOptions {
    /// `object_store`'s retry defaults with a 60 s per-request timeout.
    fn default() -> Self {
        let retry = RetryConfig::default();
        ArchiveOptions {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            max_retries: retry.max_retries,
            retry_timeout: retry.retry_timeout,
        }
    }
}

/// An opened archive target. Cheap to clone (`Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct ObjectArchive {
    inner: Arc<Inner>,
}

struct Inner {
    /// The store, already scoped to the target's prefix or directory.
    store: Arc<dyn ObjectStore>,
    /// Human form of the target's root: `s3://bucket/prefix` or `/abs/dir`.
    root: String,
    /// Spawns every request onto `_runtime`.
    handle: Handle,
    /// The archive's own runtime, alive as long as any clone.
    _runtime: OwnedRuntime,
}

/// A runtime that shuts down without waiting when dropped.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its workers stop, which panics when
        // the last clone is dropped inside async code. No request is in
        // flight here (every call waits for its own), so don't wait.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for ObjectArchive {
    // Not derived: the S3 client's configuration holds credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectArchive")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl ObjectArchive {
    /// Opens `target` with the default [`ArchiveOptions`]; `None` for
    /// [`ArchiveTarget::None`].
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] when the local directory cannot be created, or the
    /// S3 settings are unusable (no bucket, a bad prefix, a plain `http://`
    /// endpoint without `allow_http`). No request is made.
    pub fn open(target: &ArchiveTarget) -> Result<Option<ObjectArchive>> {
        ObjectArchive::open_with(target, &ArchiveOptions::default())
    }

    /// Opens `target` with the given timeouts and retries; `None` for
    /// [`ArchiveTarget::None`].
    ///
    /// # Errors
    ///
    /// As [`ObjectArchive::open`].
    pub fn open_with(
        target: &ArchiveTarget,
        options: &ArchiveOptions,
    ) -> Result<Option<ObjectArchive>> {
        let (store, root) = match target {
            ArchiveTarget::None => return Ok(None),
            ArchiveTarget::Local { path } => open_local(path)?,
            ArchiveTarget::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let settings = S3Settings {
                    bucket,
                    endpoint: endpoint.as_deref(),
                    region: region.as_deref(),
                    access_key_id: access_key_id.as_deref(),
                    secret_access_key: secret_access_key.as_deref(),
                    allow_http: *allow_http,
                };
                open_s3(&settings, prefix, options)?
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stele-archive")
            .enable_all()
            .build()
            .map_err(|e| Error::archive(&root, format!("cannot start its runtime: {e}")))?;
        Ok(Some(ObjectArchive {
            inner: Arc::new(Inner {
                store,
                root,
                handle: runtime.handle().clone(),
                _runtime: OwnedRuntime(Some(runtime)),
            }),
        }))
    }

    /// Stores `bytes` under `key`, replacing any object already there.
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] for an invalid key or a failed write.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.object_path(key)?;
        let store = Arc::clone(&self.inner.store);
        self.run(key, async move {
            store.put(&path, bytes.into()).await.map(drop)
        })
    }

    /// The whole object stored under `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] for an invalid key, a missing object (reason
    /// `no such object`, or `no such bucket`) or a failed read.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.object_path(key)?;
        let store = Arc::clone(&self.inner.store);
        self.run(key, async move {
            let bytes = store.get(&path).await?.bytes().await?;
            Ok(Vec::from(bytes))
        })
    }

    /// Whether an object is stored under `key`. A missing bucket reads as a
    /// missing object: S3 answers a `HEAD` of either with a bare 404.
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] for an invalid key or when the store cannot answer.
    pub fn exists(&self, key: &str) -> Result<bool> {
        let path = self.object_path(key)?;
        let store = Arc::clone(&self.inner.store);
        self.run(key, async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Every key under `prefix`, at any depth, sorted. Whole segments match:
    /// `audit` lists `audit/0.seg` and `audit/x/1.seg`, not `audit2/0.seg`;
    /// an empty prefix lists the whole target.
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] for an invalid prefix or a failed listing.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let path = self.parse(prefix)?;
        let store = Arc::clone(&self.inner.store);
        let mut keys = self.run(prefix, async move {
            let prefix = (!path.is_root()).then_some(path);
            store
                .list(prefix.as_ref())
                .map_ok(|meta| meta.location.to_string())
                .try_collect::<Vec<_>>()
                .await
        })?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Deletes the object under `key`; deleting a missing object is not an
    /// error.
    ///
    /// # Errors
    ///
    /// [`Error::Archive`] for an invalid key or a failed delete.
    pub fn delete(&self, key: &str) -> Result<()> {
        let path = self.object_path(key)?;
        let store = Arc::clone(&self.inner.store);
        self.run(key, async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// The human form of `key`'s location: `s3://bucket/prefix/key` or
    /// `/abs/dir/key`.
    pub fn location(&self, key: &str) -> String {
        let key = key.trim_start_matches('/');
        if key.is_empty() {
            self.inner.root.clone()
        } else {
            format!("{}/{key}", self.inner.root)
        }
    }

    /// The human form of the target: `s3://bucket/prefix` or `/abs/dir`.
    pub fn describe(&self) -> String {
        self.inner.root.clone()
    }

    /// `key` as a store path naming an object (not the root).
    fn object_path(&self, key: &str) -> Result<Path> {
        let path = self.parse(key)?;
        if path.is_root() {
            return Err(Error::archive(
                self.location(key),
                "invalid key: it is empty",
            ));
        }
        Ok(path)
    }

    /// `key` as a store path, the root for an empty key.
    fn parse(&self, key: &str) -> Result<Path> {
        Path::parse(key)
            .map_err(|e| Error::archive(self.location(key), format!("invalid key: {e}")))
    }

    /// Runs `request` on the archive's runtime and waits for it. Spawning
    /// rather than `block_on` keeps this usable from any thread, including
    /// one that already belongs to a runtime.
    fn run<T, F>(&self, key: &str, request: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = object_store::Result<T>> + Send + 'static,
    {
        let (done, result) = mpsc::sync_channel(1);
        self.inner.handle.spawn(async move {
            // The receiver only goes away if the caller's thread died.
            let _ = done.send(request.await);
        });
        match result.recv() {
            Ok(outcome) => outcome.map_err(|e| Error::archive(self.location(key), reason(&e))),
            Err(mpsc::RecvError) => Err(Error::archive(
                self.location(key),
                "the request was abandoned by the archive runtime",
            )),
        }
    }
}

/// The S3 settings of an [`ArchiveTarget::S3`], borrowed.
struct S3Settings<'a> {
    bucket: &'a str,
    endpoint: Option<&'a str>,
    region: Option<&'a str>,
    access_key_id: Option<&'a str>,
    secret_access_key: Option<&'a str>,
    allow_http: bool,
}

/// A local directory target: the store rooted at `path`, and its absolute
/// form.
fn open_local(path: &std::path::Path) -> Result<(Arc<dyn ObjectStore>, String)> {
    let shown = path.display().to_string();
    std::fs::create_dir_all(path)
        .map_err(|e| Error::archive(&shown, format!("cannot create the directory: {e}")))?;
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| Error::archive(&shown, format!("cannot resolve the directory: {e}")))?;
    let root = absolute.display().to_string();
    let store = LocalFileSystem::new_with_prefix(&absolute)
        .map_err(|e| Error::archive(&root, reason(&e)))?
        .with_fsync(true);
    Ok((Arc::new(store), root))
}

/// An S3 target: the client scoped to `prefix`, and `s3://bucket/prefix`.
fn open_s3(
    s3: &S3Settings<'_>,
    prefix: &str,
    options: &ArchiveOptions,
) -> Result<(Arc<dyn ObjectStore>, String)> {
    let prefix_path = Path::parse(prefix);
    let root = match &prefix_path {
        Ok(p) if !p.is_root() => format!("s3://{}/{p}", s3.bucket),
        _ => format!("s3://{}", s3.bucket),
    };
    let prefix_path =
        prefix_path.map_err(|e| Error::archive(&root, format!("invalid prefix: {e}")))?;
    if s3.bucket.is_empty() {
        return Err(Error::archive(&root, "the bucket name is empty"));
    }

    let mut builder = AmazonS3Builder::from_env().with_bucket_name(s3.bucket);
    if let Some(endpoint) = s3.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if let Some(region) = s3.region {
        builder = builder.with_region(region);
    } else if builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    if let Some(id) = s3.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if s3.allow_http {
        builder = builder.with_allow_http(true);
    }
    let allow_http = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
    if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint)
        && endpoint.starts_with("http://")
        && builder.get_config_value(&allow_http).as_deref() != Some("true")
    {
        return Err(Error::archive(
            &root,
            format!("endpoint {endpoint} is plain http; set allow_http = true to use it"),
        ));
    }
    let millis = |d: Duration| format!("{}ms", d.as_millis());
    // object_store's HTTP client (reqwest, built without a crypto provider
    // of its own) takes TLS from the process-wide rustls provider: ring,
    // unless the process already chose.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = builder
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            millis(options.request_timeout),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            millis(options.connect_timeout),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: options.max_retries,
            retry_timeout: options.retry_timeout,
        })
        .build()
        .map_err(|e| Error::archive(&root, reason(&e)))?;
    let store: Arc<dyn ObjectStore> = if prefix_path.is_root() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix_path))
    };
    Ok((store, root))
}

/// A failure as one line: `no such bucket` or `no such object` (S3 answers
/// 404 for both), otherwise the error and its causes, each cause only when
/// it adds something, with an S3 XML error body cut down to its code and
/// message.
fn reason(error: &object_store::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    if text.contains("<Code>NoSuchBucket</Code>") {
        "no such bucket".to_owned()
    } else if let object_store::Error::NotFound { .. } = error {
        "no such object".to_owned()
    } else {
        condense_xml(text)
    }
}

/// `text` with an embedded S3 `<Error>` document replaced by
/// `Code: Message`; unchanged when it has none.
fn condense_xml(text: String) -> String {
    let Some(start) = text.find("<?xml").or_else(|| text.find("<Error>")) else {
        return text;
    };
    let element = |name: &str| {
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        let from = start + text[start..].find(&open)? + open.len();
        let to = from + text[from..].find(&close)?;
        Some(&text[from..to])
    };
    let end = text[start..]
        .find("</Error>")
        .map(|i| start + i + "</Error>".len());
    match (element("Code"), element("Message"), end) {
        (Some(code), Some(message), Some(end)) => {
            format!("{}{code}: {message}{}", &text[..start], &text[end..])
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path) -> ObjectArchive {
        ObjectArchive::open(&ArchiveTarget::Local {
            path: dir.to_path_buf(),
        })
        .expect("open")
        .expect("a target")
    }

    #[test]
    fn archives_are_shareable() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<ObjectArchive>();
    }

    #[test]
    fn none_opens_to_nothing() {
        assert!(
            ObjectArchive::open(&ArchiveTarget::None)
                .expect("open")
                .is_none()
        );
    }

    #[test]
    fn local_round_trip_with_nested_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("archive");
        let archive = local(&root);
        assert!(root.is_dir(), "the directory is created");

        archive
            .put("audit/00000000000000000000.seg", b"first".to_vec())
            .expect("put");
        archive
            .put("audit/x/y/00000000000000000100.seg", vec![7; 1000])
            .expect("put");
        archive
            .put("billing/00000000000000000000.seg", Vec::new())
            .expect("put");

        assert_eq!(
            archive.get("audit/00000000000000000000.seg").expect("get"),
            b"first"
        );
        assert_eq!(
            archive
                .get("audit/x/y/00000000000000000100.seg")
                .expect("get"),
            vec![7; 1000]
        );
        assert_eq!(
            archive
                .get("billing/00000000000000000000.seg")
                .expect("get"),
            b""
        );
        assert!(
            archive
                .exists("audit/00000000000000000000.seg")
                .expect("exists")
        );
        assert!(!archive.exists("audit/nope.seg").expect("exists"));
        assert!(!archive.exists("nowhere/nope.seg").expect("exists"));

        // Replacing an object is allowed and atomic.
        archive
            .put("audit/00000000000000000000.seg", b"second".to_vec())
            .expect("put");
        assert_eq!(
            archive.get("audit/00000000000000000000.seg").expect("get"),
            b"second"
        );
        assert_eq!(
            std::fs::read(root.join("audit/00000000000000000000.seg")).expect("read"),
            b"second"
        );

        assert_eq!(
            archive.list("audit").expect("list"),
            [
                "audit/00000000000000000000.seg",
                "audit/x/y/00000000000000000100.seg"
            ]
        );
        assert_eq!(
            archive.list("audit/x/").expect("list"),
            ["audit/x/y/00000000000000000100.seg"]
        );
        assert_eq!(archive.list("").expect("list").len(), 3);
        assert!(
            archive.list("aud").expect("list").is_empty(),
            "whole segments only"
        );
        assert!(archive.list("missing/dir").expect("list").is_empty());

        archive
            .delete("audit/00000000000000000000.seg")
            .expect("delete");
        archive
            .delete("audit/00000000000000000000.seg")
            .expect("deleting twice is fine");
        archive
            .delete("never/was.seg")
            .expect("deleting a missing key is fine");
        assert!(
            !archive
                .exists("audit/00000000000000000000.seg")
                .expect("exists")
        );
        assert_eq!(archive.list("").expect("list").len(), 2);
    }

    #[test]
    fn local_location_and_describe_are_absolute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = local(dir.path());
        let abs = std::fs::canonicalize(dir.path()).expect("canonicalize");
        assert_eq!(archive.describe(), abs.display().to_string());
        assert_eq!(
            archive.location("audit/0.seg"),
            abs.join("audit/0.seg").display().to_string()
        );
        assert!(format!("{archive:?}").contains(&archive.describe()));
    }

    #[test]
    fn missing_object_error_names_its_location() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = local(dir.path());
        let err = archive.get("audit/missing.seg").expect_err("missing");
        let Error::Archive { location, reason } = &err else {
            panic!("wrong error: {err}")
        };
        assert_eq!(location, &archive.location("audit/missing.seg"));
        assert_eq!(reason, "no such object");
        assert!(err.to_string().starts_with("archive /"), "{err}");
    }

    #[test]
    fn bad_keys_are_errors_not_requests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = local(dir.path());
        for key in ["", "/", "a//b", "a/../b", "./a", "a/\u{1}b"] {
            let err = archive.put(key, b"x".to_vec()).expect_err(key);
            assert!(matches!(err, Error::Archive { .. }), "{key:?}: {err}");
            assert!(err.to_string().contains("invalid key"), "{key:?}: {err}");
        }
        assert!(archive.list("a//b").is_err());
        assert!(
            archive.list("").expect("list").is_empty(),
            "nothing was written"
        );
    }

    #[test]
    fn clones_share_the_target_across_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = local(dir.path());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let archive = archive.clone();
                std::thread::spawn(move || archive.put(&format!("t/{i}.seg"), vec![i; 10]))
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("put");
        }
        drop(archive.clone());
        assert_eq!(archive.list("t").expect("list").len(), 4);
    }

    #[test]
    fn s3_settings_are_checked_when_opened() {
        let s3 = |bucket: &str, prefix: &str, endpoint: &str, allow_http| ArchiveTarget::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(endpoint.into()),
            region: None,
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            allow_http,
        };
        let err = ObjectArchive::open(&s3("b", "", "http://127.0.0.1:1", false)).expect_err("http");
        assert!(err.to_string().contains("allow_http"), "{err}");
        assert!(err.to_string().starts_with("archive s3://b: "), "{err}");
        let err = ObjectArchive::open(&s3("", "", "http://127.0.0.1:1", true)).expect_err("bucket");
        assert!(err.to_string().contains("bucket"), "{err}");
        let err =
            ObjectArchive::open(&s3("b", "a//b", "http://127.0.0.1:1", true)).expect_err("prefix");
        assert!(err.to_string().contains("invalid prefix"), "{err}");

        let archive = ObjectArchive::open(&s3("b", "/stele/prod/", "http://127.0.0.1:1", true))
            .expect("open")
            .expect("a target");
        assert_eq!(archive.describe(), "s3://b/stele/prod");
        assert_eq!(
            archive.location("audit/0.seg"),
            "s3://b/stele/prod/audit/0.seg"
        );
    }

    #[test]
    fn s3_error_bodies_are_cut_to_code_and_message() {
        let text = "Error performing GET http://h/b in 3ms - Server returned non-2xx status \
            code: 403 Forbidden: <?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error>\
            <Code>SignatureDoesNotMatch</Code><Message>The signature does not match</Message>\
            <RequestId>R</RequestId></Error> (tail)";
        assert_eq!(
            condense_xml(text.to_owned()),
            "Error performing GET http://h/b in 3ms - Server returned non-2xx status code: \
             403 Forbidden: SignatureDoesNotMatch: The signature does not match (tail)"
        );
        for plain in [
            "no xml here",
            "<?xml but no elements",
            "<Error><Code>C</Code>",
        ] {
            assert_eq!(condense_xml(plain.to_owned()), plain);
        }
    }

    #[test]
    fn targets_deserialise_from_config() {
        let t: ArchiveTarget = serde_json::from_str(r#"{"kind":"none"}"#).expect("none");
        assert_eq!(t, ArchiveTarget::None);
        let t: ArchiveTarget =
            serde_json::from_str(r#"{"kind":"local","path":"/var/archive"}"#).expect("local");
        assert_eq!(
            t,
            ArchiveTarget::Local {
                path: "/var/archive".into()
            }
        );
        let t: ArchiveTarget = serde_json::from_str(r#"{"kind":"s3","bucket":"b"}"#).expect("s3");
        assert_eq!(
            t,
            ArchiveTarget::S3 {
                bucket: "b".into(),
                prefix: String::new(),
                endpoint: None,
                region: None,
                access_key_id: None,
                secret_access_key: None,
                allow_http: false,
            }
        );
        assert!(
            serde_json::from_str::<ArchiveTarget>(r#"{"kind":"s3","bucket":"b","x":1}"#).is_err()
        );
    }
}
