//! The durable lease store: the endpoint's [`DurableImage`] on disk, in redb.
//!
//! - [`Store::open`] returns the store and the image to restore from
//!   ([`failover_model::Endpoint::restore`]). A file that is not a redb database, is damaged, or
//!   belongs to another relationship, role or format version is **refused** with an error: the
//!   store is never silently reset, since forgetting leases is how duplicates happen.
//! - [`Store::commit`] applies a batch of [`DurableWrite`]s in **one** write transaction with
//!   durable (fsync) commit. The driver uses this for group commit: every write produced while
//!   the previous commit was in flight goes into the next transaction.
//!
//! Integrity check on every open: the store opens with redb's
//! `set_check_integrity_on_open(true)`, on purpose, after a clean shutdown as well. What redb
//! (4.6) does by itself: after an unclean shutdown (its header's recovery flag is set, the file
//! length does not match its layout, or the last commit was not flushed) every open runs a full
//! repair: it verifies the checksums of the last commit's trees, falls back to the previous
//! commit if the last one was torn, and rebuilds its allocator state. Crash safety does not
//! depend on the flag. After a clean shutdown, however, a plain open trusts the file: page
//! checksums are not verified on reads, so damage at rest (a media error, another program
//! writing to the file, a bad copy from a backup) may be read as lease data or make redb panic.
//! With the check, such a file fails to open and is refused with [`StoreError::Corrupt`]. Since
//! format 2 the file is about a fifth of its format 1 size and the check is a small part of a
//! restart (measured with `failover-bench restore` and `bench/run.sh --leases-only`; see
//! docs/performance.md), so it is kept rather than traded for restart time.
//!
//! Layout: table `meta` (identity, format), table `state` (the [`StateRecord`], one row), table
//! `bindings` keyed by the resource's 18-octet encoding.
//!
//! Encoding: the identity record is JSON, so that any redb tool can read which relationship,
//! role and format a file belongs to, and so that a file of another format version is refused
//! with [`StoreError::Foreign`] naming its version before any other record is read. The state
//! and binding records are `postcard` (serde, compact binary): format 1 stored them as JSON,
//! which made decoding 1M bindings take about 5 s of a restart. A record that does not decode,
//! or decodes with bytes left over, or sits under another resource's key, is refused with
//! [`StoreError::BadRecord`].

use failover_model::{Binding, DurableImage, DurableWrite, Resource, Role, StateRecord};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bump when the on-disk layout changes; a file of another version is refused.
///
/// - 1: state and binding records in JSON.
/// - 2: state and binding records in `postcard`; the identity record stays JSON.
pub const FORMAT_VERSION: u32 = 2;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
const BINDINGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bindings");
const IDENTITY_KEY: &str = "identity";

/// redb's page cache. Its default (1 GiB) would keep most of a large store's file in the
/// process as well as in the kernel's page cache: with 1M leases (a 500 MiB file) that alone
/// is most of the resident memory after a restart. Every lease is also held by the endpoint in
/// memory, so the store is read once at start and then mostly written: a small cache is enough
/// (`bench/run.sh` measures RSS and restart time with 100k and 1M leases).
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;
const STATE_KEY: &str = "state";

/// Which endpoint a store belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreIdentity {
    /// The on-disk format version.
    pub format: u32,
    /// The relationship name.
    pub relationship: String,
    /// The role in it.
    pub role: Role,
}

impl StoreIdentity {
    /// The identity of an endpoint with this configuration, in the current format.
    #[must_use]
    pub fn new(relationship: &str, role: Role) -> Self {
        StoreIdentity { format: FORMAT_VERSION, relationship: relationship.to_owned(), role }
    }
}

/// Why the store refused to open or to commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file is not a usable redb database (damaged, truncated, or something else).
    #[error("lease store {path}: cannot be opened ({reason}); refusing to start rather than reset it — restore it from a backup or move it away deliberately")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What redb said.
        reason: String,
    },
    /// The file belongs to another endpoint or format.
    #[error("lease store {path}: belongs to {found}, not to {expected}; refusing to use it")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Who it belongs to.
        found: String,
        /// Who we are.
        expected: String,
    },
    /// A record could not be decoded.
    #[error("lease store {path}: record {key} is unreadable ({reason}); refusing to start")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// Which record.
        key: String,
        /// Why.
        reason: String,
    },
    /// An I/O or database error while committing.
    #[error("lease store: {0}")]
    Db(String),
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Encodes a state or binding record (format 2: `postcard`).
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(db_err)
}

/// Decodes a state or binding record; trailing bytes make the record unreadable.
fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} bytes left over after the record", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

fn describe(id: &StoreIdentity) -> String {
    format!("relationship {:?}, role {:?}, format {}", id.relationship, id.role, id.format)
}

/// The key of a binding: kind octet, 16 address octets, prefix length.
#[must_use]
pub fn resource_key(r: &Resource) -> [u8; 18] {
    let mut k = [0u8; 18];
    match r {
        Resource::Address(a) => {
            k[0] = 1;
            k[1..17].copy_from_slice(&a.octets());
            k[17] = 128;
        }
        Resource::Prefix(p, l) => {
            k[0] = 2;
            k[1..17].copy_from_slice(&p.octets());
            k[17] = *l;
        }
    }
    k
}

/// The open lease store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store at `path` for `identity` and reads the durable image.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`], [`StoreError::Foreign`], [`StoreError::BadRecord`] or an I/O
    /// error. Never resets an existing file.
    pub fn open(
        path: &Path,
        identity: &StoreIdentity,
    ) -> Result<(Store, DurableImage), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { path: path.to_owned(), reason };
        let exists = match std::fs::metadata(path) {
            Ok(m) => {
                if !m.is_file() {
                    return Err(corrupt("not a regular file".into()));
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let opened = std::panic::catch_unwind(|| {
            let mut b = Database::builder();
            b.set_check_integrity_on_open(true);
            b.set_cache_size(CACHE_BYTES);
            if exists {
                b.open(path)
            } else {
                b.create(path)
            }
        });
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(corrupt(e.to_string())),
            Err(_) => return Err(corrupt("the database engine failed while reading it".into())),
        };
        let store = Store { db, path: path.to_owned() };
        if exists {
            store.check_identity(identity)?;
        } else {
            store.write_identity(identity)?;
        }
        let image = store.read_image()?;
        Ok((store, image))
    }

    fn write_identity(&self, identity: &StoreIdentity) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(identity).map_err(db_err)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert(IDENTITY_KEY, bytes.as_slice()).map_err(db_err)?;
            tx.open_table(STATE).map_err(db_err)?;
            tx.open_table(BINDINGS).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn check_identity(&self, identity: &StoreIdentity) -> Result<(), StoreError> {
        let foreign = |found: String| StoreError::Foreign {
            path: self.path.clone(),
            found,
            expected: describe(identity),
        };
        let tx = self.db.begin_read().map_err(db_err)?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Err(foreign("a redb database without a failoverd identity".into()))
            }
            Err(e) => return Err(db_err(e)),
        };
        let Some(v) = meta.get(IDENTITY_KEY).map_err(db_err)? else {
            return Err(foreign("a redb database without a failoverd identity".into()));
        };
        let found: StoreIdentity = serde_json::from_slice(v.value())
            .map_err(|e| foreign(format!("an unreadable identity ({e})")))?;
        if &found != identity {
            return Err(foreign(describe(&found)));
        }
        Ok(())
    }

    fn read_image(&self) -> Result<DurableImage, StoreError> {
        let bad = |key: String, reason: String| StoreError::BadRecord {
            path: self.path.clone(),
            key,
            reason,
        };
        let tx = self.db.begin_read().map_err(db_err)?;
        let mut image = DurableImage::default();
        let state = tx.open_table(STATE).map_err(db_err)?;
        if let Some(v) = state.get(STATE_KEY).map_err(db_err)? {
            let r: StateRecord = decode(v.value()).map_err(|e| bad("state".into(), e))?;
            image.state = Some(r);
        }
        let bindings = tx.open_table(BINDINGS).map_err(db_err)?;
        let mut records = Vec::with_capacity(
            usize::try_from(redb::ReadableTableMetadata::len(&bindings).map_err(db_err)?)
                .unwrap_or(0),
        );
        for row in bindings.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            let b: Binding =
                decode(v.value()).map_err(|e| bad(format!("binding {:02x?}", k.value()), e))?;
            if resource_key(&b.resource).as_slice() != k.value() {
                return Err(bad(
                    format!("binding {}", b.resource),
                    "stored under another resource's key".into(),
                ));
            }
            records.push((b.resource, b));
        }
        // Built from sorted contents, the map's nodes are full (inserted one by one in key
        // order, about half full). Keys are unique: each is checked against its record above.
        image.bindings = records.into_iter().collect();
        Ok(image)
    }

    /// Writes a batch in one durable transaction (fsync before returning).
    ///
    /// # Errors
    /// Any database or I/O failure: the batch is then not durable and nothing that waited for it
    /// may be sent.
    pub fn commit(&self, writes: &[DurableWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        test_commit_stall();
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut state = tx.open_table(STATE).map_err(db_err)?;
            let mut bindings = tx.open_table(BINDINGS).map_err(db_err)?;
            for w in writes {
                match w {
                    DurableWrite::State(r) => {
                        let v = encode(r)?;
                        state.insert(STATE_KEY, v.as_slice()).map_err(db_err)?;
                    }
                    DurableWrite::Binding(b) => {
                        let v = encode(b)?;
                        let k = resource_key(&b.resource);
                        bindings.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
                    }
                }
            }
        }
        tx.commit().map_err(db_err)
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// **Test only.** The environment variable naming a file; while that file exists and holds a
/// number of milliseconds, every durable commit first sleeps that long (a slow disk, for the
/// tests of RFC 8156 §7.1 time stamps). Unset in production: nothing happens.
pub const TEST_COMMIT_STALL_ENV: &str = "FAILOVERD_TEST_COMMIT_STALL_FILE";

fn test_commit_stall() {
    let Some(path) = std::env::var_os(TEST_COMMIT_STALL_ENV) else { return };
    let Ok(text) = std::fs::read_to_string(path) else { return };
    if let Ok(ms) = text.trim().parse::<u64>() {
        tracing::warn!(ms, "test-only commit stall ({TEST_COMMIT_STALL_ENV})");
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    }
}
