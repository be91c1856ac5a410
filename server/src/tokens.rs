//! Minted viewer tokens: read-only bearer tokens limited to some logs and,
//! optionally, some tenants of them, with an expiry; minted, listed and
//! revoked by admins over gRPC or HTTP, each change recorded in `_system`.
//!
//! They are kept in `<data-dir>/keys/tokens.json` as the SHA-256 of their
//! secret, never the secret itself; the file is replaced atomically (a
//! temporary file, fsync, rename, fsync of the directory) on every change,
//! so a crash leaves the old list or the new one.
//!
//! # Invariants
//! - A minted token only has the `read` role, on the logs it names.
//! - An expired or revoked token authenticates as an unknown one.
//! - The secret is returned once, by [`Minted::mint`], and never stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stele_engine::files::write_atomically;
use stele_engine::store::check_log_name;
use tonic::Status;

use crate::auth::Principal;
use crate::status::{invalid, to_status};

/// Where the tokens live inside the data directory.
pub const TOKENS_FILE: &str = "keys/tokens.json";
/// How long a token is valid when the request does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest validity a token may be given.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// What every secret starts with, so that a leaked one is recognisable
/// (secret scanners, logs).
const SECRET_PREFIX: &str = "stele_vt_";

/// Whether `secret` has the form of a minted token's (whether or not it
/// is one).
pub fn is_minted_secret(secret: &str) -> bool {
    secret.starts_with(SECRET_PREFIX)
}

/// A minted token as stored (and listed): everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedToken {
    /// Its id, for listing and revoking.
    pub id: String,
    /// A name for it (the customer, the purpose).
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub digest: String,
    /// The logs it may read.
    pub logs: Vec<String>,
    /// The tenants it may see; empty for all.
    pub tenants: Vec<String>,
    /// When it was minted, ns since the epoch.
    pub created_ns: i64,
    /// When it stops working, ns since the epoch.
    pub expires_ns: i64,
    /// The name of the token that minted it.
    pub created_by: String,
}

/// What a mint asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintSpec {
    /// A name for the token.
    pub name: String,
    /// The logs, by exact name.
    pub logs: Vec<String>,
    /// The tenants; empty for all.
    pub tenants: Vec<String>,
    /// How long it is valid; `None` for [`DEFAULT_TTL`].
    pub ttl: Option<Duration>,
}

impl MintSpec {
    /// Checks the spec, naming the field at fault.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT`.
    pub fn check(&self) -> Result<(), Status> {
        if self.name.trim().is_empty() || self.name.len() > 128 {
            return Err(invalid("name", "is required, at most 128 bytes"));
        }
        if self.logs.is_empty() {
            return Err(invalid("logs", "name at least one log"));
        }
        for (i, log) in self.logs.iter().enumerate() {
            check_log_name(log).map_err(|e| invalid(&format!("logs[{i}]"), e))?;
        }
        for (i, tenant) in self.tenants.iter().enumerate() {
            if tenant.is_empty() || tenant.len() > 256 {
                return Err(invalid(&format!("tenants[{i}]"), "must be 1 to 256 bytes"));
            }
        }
        if self.ttl.is_some_and(|ttl| ttl.is_zero() || ttl > MAX_TTL) {
            return Err(invalid("ttl", "must be more than 0 and at most 366 days"));
        }
        Ok(())
    }
}

/// The list as the file holds it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    version: u32,
    tokens: Vec<MintedToken>,
}

/// The minted tokens of a data directory.
#[derive(Debug)]
pub struct Minted {
    path: PathBuf,
    /// By the digest of their secret.
    by_digest: RwLock<HashMap<[u8; 32], MintedToken>>,
}

impl Minted {
    /// Reads the tokens of `data_dir` (none when the file does not exist).
    ///
    /// # Errors
    /// A message naming the file when it cannot be read or parsed.
    pub fn open(data_dir: &Path) -> Result<Minted, String> {
        let path = data_dir.join(TOKENS_FILE);
        let file: TokensFile = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokensFile::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut by_digest = HashMap::new();
        for token in file.tokens {
            let digest = hex::decode(&token.digest)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or_else(|| {
                    format!(
                        "{}: token `{}` has no valid digest",
                        path.display(),
                        token.id
                    )
                })?;
            by_digest.insert(digest, token);
        }
        Ok(Minted {
            path,
            by_digest: RwLock::new(by_digest),
        })
    }

    /// The principal of the token whose secret hashes to `digest`, unless
    /// it expired at `now`.
    pub fn principal(&self, digest: &[u8; 32], now: i64) -> Option<Arc<Principal>> {
        let tokens = self.by_digest.read();
        let token = tokens.get(digest).filter(|t| now < t.expires_ns)?;
        Some(Arc::new(Principal::viewer(
            format!("{} (minted {})", token.name, token.id),
            token.logs.clone(),
            token.tenants.clone(),
        )))
    }

    /// Mints a token for `spec` on behalf of `by`, at `now`; returns it and
    /// its secret.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming the spec's field; the file's error.
    pub fn mint(
        &self,
        spec: &MintSpec,
        by: &str,
        now: i64,
    ) -> Result<(MintedToken, String), Status> {
        spec.check()?;
        let mut random = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let secret = format!("{SECRET_PREFIX}{}", hex::encode(random));
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let ttl = spec.ttl.unwrap_or(DEFAULT_TTL);
        let token = MintedToken {
            id: format!("vt_{}", hex::encode(&digest[..8])),
            name: spec.name.trim().to_string(),
            digest: hex::encode(digest),
            logs: spec.logs.clone(),
            tenants: spec.tenants.clone(),
            created_ns: now,
            expires_ns: now.saturating_add(i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX)),
            created_by: by.to_string(),
        };
        let mut tokens = self.by_digest.write();
        tokens.insert(digest, token.clone());
        if let Err(status) = self.save(&tokens, now) {
            tokens.remove(&digest);
            return Err(status);
        }
        Ok((token, secret))
    }

    /// Revokes the token `id`; returns it.
    ///
    /// # Errors
    /// `NOT_FOUND`; the file's error.
    pub fn revoke(&self, id: &str, now: i64) -> Result<MintedToken, Status> {
        let mut tokens = self.by_digest.write();
        let (digest, token) = tokens
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(d, t)| (*d, t.clone()))
            .ok_or_else(|| Status::not_found(format!("no minted token `{id}`")))?;
        tokens.remove(&digest);
        if let Err(status) = self.save(&tokens, now) {
            tokens.insert(digest, token);
            return Err(status);
        }
        Ok(token)
    }

    /// The token `id`, if it exists.
    pub fn get(&self, id: &str) -> Option<MintedToken> {
        self.by_digest.read().values().find(|t| t.id == id).cloned()
    }

    /// Every token, oldest first.
    pub fn list(&self) -> Vec<MintedToken> {
        let mut tokens: Vec<MintedToken> = self.by_digest.read().values().cloned().collect();
        tokens.sort_by(|a, b| (a.created_ns, &a.id).cmp(&(b.created_ns, &b.id)));
        tokens
    }

    /// Writes `tokens` (leaving out those expired at `now`) to the file.
    fn save(&self, tokens: &HashMap<[u8; 32], MintedToken>, now: i64) -> Result<(), Status> {
        let mut list: Vec<MintedToken> = tokens
            .values()
            .filter(|t| now < t.expires_ns)
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_ns, &a.id).cmp(&(b.created_ns, &b.id)));
        let file = TokensFile {
            version: 1,
            tokens: list,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| Status::internal(e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Status::internal(format!("{}: {e}", dir.display())))?;
        }
        write_atomically(&self.path, &bytes).map_err(to_status)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Status::internal(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn spec() -> MintSpec {
        MintSpec {
            name: "acme console".into(),
            logs: vec!["audit".into()],
            tenants: vec!["acme".into()],
            ttl: Some(Duration::from_secs(60)),
        }
    }

    #[test]
    fn minted_tokens_persist_hashed_expire_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let minted = Minted::open(dir.path()).unwrap();
        let (token, secret) = minted.mint(&spec(), "admin", 1_000).unwrap();
        assert!(secret.starts_with(SECRET_PREFIX));
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let file = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&secret[SECRET_PREFIX.len()..]));
        assert!(file.contains(&token.digest));

        let reopened = Minted::open(dir.path()).unwrap();
        let p = reopened.principal(&digest, 2_000).unwrap();
        p.authorize(Role::Read, Some("audit")).unwrap();
        assert!(p.authorize(Role::Append, Some("audit")).is_err());
        assert!(p.authorize(Role::Read, Some("billing")).is_err());
        assert_eq!(p.tenants(), Some(&["acme".to_string()][..]));
        let expired = 1_000 + 60_000_000_000;
        assert!(reopened.principal(&digest, expired).is_none());

        assert_eq!(reopened.revoke(&token.id, 2_000).unwrap().id, token.id);
        assert!(reopened.principal(&digest, 2_000).is_none());
        assert!(Minted::open(dir.path()).unwrap().list().is_empty());
        let e = reopened.revoke(&token.id, 2_000).unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
    }

    #[test]
    fn specs_are_checked() {
        let bad = [
            (
                MintSpec {
                    name: " ".into(),
                    ..spec()
                },
                "name",
            ),
            (
                MintSpec {
                    logs: vec![],
                    ..spec()
                },
                "logs",
            ),
            (
                MintSpec {
                    logs: vec!["app-*".into()],
                    ..spec()
                },
                "logs[0]",
            ),
            (
                MintSpec {
                    tenants: vec![String::new()],
                    ..spec()
                },
                "tenants[0]",
            ),
            (
                MintSpec {
                    ttl: Some(MAX_TTL * 2),
                    ..spec()
                },
                "ttl",
            ),
        ];
        for (spec, field) in bad {
            let e = spec.check().unwrap_err();
            assert!(e.message().starts_with(field), "{e:?}");
        }
    }
}
