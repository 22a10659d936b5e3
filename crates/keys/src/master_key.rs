//! The master key: encrypts every signing key's private part at rest, and the small secrets
//! other crates seal through [`SecretSealer`] (TOTP seeds), the same way.
//!
//! A private JWK (RFC 7517 §4, with the private members of RFC 7518 §6.2.2, §6.3.2 or RFC 8037
//! §2) is stored as a compact JWE (RFC 7516 §7.1) with `alg: "dir"` (RFC 7518 §4.5: the
//! master key *is* the content-encryption key) and `enc: "A256GCM"` (RFC 7518 §5.3), so the
//! 32-byte master key both hides and authenticates it. The JWE header names the master key
//! (`kid`) and the content type (`cty: "jwk+json"`); the row's `master_key_id` says the same, so
//! a deployment can hold several master keys — the current one encrypts, older ones only
//! decrypt — and [`MasterKeySet::rewrap_all`] moves every key to the current one.
//!
//! Sources: `PALISADE_MASTER_KEY` (base64 of 32 bytes, [`MasterKey::from_base64`]) for
//! production, or a file created on first start with mode 0600 ([`MasterKey::load_or_create`])
//! for the embedded default. The key never appears in `Debug` output.
//!
//! Decrypted private JWKs live in ordinary heap memory until dropped (no zeroization: josekit
//! and OpenSSL copy key material internally anyway); they are never logged.

use crate::error::KeyError;
use crate::thumbprint::jwk_thumbprint;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{Dir, JweHeader};
use josekit::jwk::Jwk;
use palisade_core::factor::Sealed;
use palisade_core::model::StoredSigningKey;
use palisade_core::ports::{SealError, SecretSealer};
use palisade_core::secret::Secret;
use serde_json::{Map, Value};
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Length of a master key: A256GCM takes a 256-bit key (RFC 7518 §5.3).
pub const MASTER_KEY_LEN: usize = 32;

/// The content encryption of every stored private key.
const CONTENT_ENCRYPTION: &str = "A256GCM";
const CONTENT_TYPE: &str = "jwk+json";

/// A 256-bit key that encrypts signing keys at rest, with the id stored next to what it
/// encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    id: String,
    bytes: [u8; MASTER_KEY_LEN],
}

impl MasterKey {
    /// A master key from its 32 bytes. Its id is the first 8 characters of the RFC 7638
    /// thumbprint of the key as an `oct` JWK: stable, short, and it says nothing useful about
    /// a 256-bit random key.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        let mut jwk = Map::new();
        jwk.insert("kty".into(), Value::String("oct".into()));
        jwk.insert("k".into(), Value::String(URL_SAFE_NO_PAD.encode(bytes)));
        let id = jwk_thumbprint(&jwk)
            .map(|t| t.chars().take(8).collect())
            // Unreachable: an oct JWK with `k` always has a thumbprint.
            .unwrap_or_else(|_| "master".to_owned());
        Self { id, bytes }
    }

    /// Parses base64 (standard or URL-safe alphabet, padding optional, surrounding whitespace
    /// ignored) of exactly 32 bytes, e.g. `PALISADE_MASTER_KEY` or the key file's content.
    pub fn from_base64(encoded: &str) -> Result<Self, KeyError> {
        let normalized: String = encoded
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        let decoded = URL_SAFE_NO_PAD
            .decode(normalized.as_bytes())
            .map_err(|_| KeyError::MasterKey("the master key is not valid base64".to_owned()))?;
        let bytes: [u8; MASTER_KEY_LEN] = decoded.try_into().map_err(|v: Vec<u8>| {
            KeyError::MasterKey(format!(
                "the master key must be {MASTER_KEY_LEN} bytes, not {}",
                v.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random master key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| {
            KeyError::MasterKey(format!("the OS random number generator failed: {e}"))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads the master key file at `path`, or creates it with a fresh key if it does not
    /// exist: mode 0600 (parent directories created with 0700), written and synced before use.
    /// If two processes race to create it, the loser reads the winner's key. A file that others
    /// may read is used but logged as a warning.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                Self::from_base64(&text)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create_file(path),
            Err(e) => Err(KeyError::MasterKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn create_file(path: &Path) -> Result<Self, KeyError> {
        let io_error = |what: &str, e: std::io::Error| {
            KeyError::MasterKey(format!("cannot {what} {}: {e}", path.display()))
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io_error("create the directory of", e))?;
        }
        let key = Self::generate()?;
        // Written complete to a private temporary file first, then linked into place: `link`
        // never replaces an existing file, so of racing processes exactly one key wins, and a
        // loser only ever sees the winner's complete file (never a half-written one).
        let unique = palisade_core::SecretGenerator::token(&palisade_core::OsSecrets);
        let temporary = path.with_extension(format!("tmp-{}", &unique[..16]));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| {
                // The umask can only remove bits from 0600; set it so the file is 0600 exactly.
                file.set_permissions(Permissions::from_mode(0o600))?;
                file.write_all(format!("{}\n", key.to_base64().expose()).as_bytes())?;
                file.sync_all()
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(io_error("write", e));
        }
        let linked = fs::hard_link(&temporary, path);
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(path).map_err(|e| io_error("read", e))?;
                return Self::from_base64(&text);
            }
            Err(e) => return Err(io_error("create", e)),
        }
        tracing::info!(path = %path.display(), master_key_id = %key.id, "created a new master key");
        Ok(key)
    }

    /// Replaces the derived id by a configured one (1-64 characters of `A-Z a-z 0-9 . _ -`).
    pub fn with_id(mut self, id: impl Into<String>) -> Result<Self, KeyError> {
        let id = id.into();
        let is_valid = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !is_valid {
            return Err(KeyError::MasterKey(
                "a master key id has 1-64 characters of A-Z a-z 0-9 . _ -".to_owned(),
            ));
        }
        self.id = id;
        Ok(self)
    }

    /// The id recorded in each key's `master_key_id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64url (what `load_or_create` writes), for an operator to copy into
    /// `PALISADE_MASTER_KEY`.
    pub fn to_base64(&self) -> Secret {
        Secret::new(URL_SAFE_NO_PAD.encode(self.bytes))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", metadata.permissions().mode() & 0o777),
            "the master key file is readable by group or others; chmod 600 it"
        );
    }
}

/// The configured master keys: one current (encrypts and decrypts) and any number of older
/// ones (decrypt only), each identified by its id.
#[derive(Debug, Clone)]
pub struct MasterKeySet {
    current: MasterKey,
    older: Vec<MasterKey>,
}

impl MasterKeySet {
    /// `Err` if two keys share an id (rows name their master key by id alone).
    pub fn new(
        current: MasterKey,
        older: impl IntoIterator<Item = MasterKey>,
    ) -> Result<Self, KeyError> {
        let older: Vec<MasterKey> = older.into_iter().collect();
        let mut ids: Vec<&str> = std::iter::once(current.id())
            .chain(older.iter().map(MasterKey::id))
            .collect();
        ids.sort_unstable();
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(KeyError::MasterKey(
                "two configured master keys have the same id".to_owned(),
            ));
        }
        Ok(Self { current, older })
    }

    /// Only a current key, no older ones.
    pub fn single(current: MasterKey) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|key| key.id == id)
    }

    /// Encrypts a private JWK (JSON bytes) under the current master key; returns the compact
    /// JWE and the master key's id.
    pub(crate) fn encrypt_private_jwk(
        &self,
        private_jwk: &[u8],
    ) -> Result<(String, String), KeyError> {
        let compact = self
            .encrypt_under_current(CONTENT_TYPE, private_jwk)
            .map_err(|e| KeyError::Encryption(e.to_string()))?;
        Ok((compact, self.current.id.clone()))
    }

    /// A compact JWE of `plaintext` under the current master key: `dir`, `A256GCM`, the
    /// master key's id as `kid` and `content_type` as `cty`, all in the protected header, which
    /// A256GCM authenticates along with the ciphertext.
    fn encrypt_under_current(
        &self,
        content_type: &str,
        plaintext: &[u8],
    ) -> Result<String, josekit::JoseError> {
        let mut header = JweHeader::new();
        header.set_content_encryption(CONTENT_ENCRYPTION);
        header.set_content_type(content_type);
        header.set_key_id(self.current.id.clone());
        let encrypter = Dir.encrypter_from_bytes(self.current.bytes)?;
        josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
    }

    /// Decrypts the private JWK of a stored key and checks that it is that key: its thumbprint
    /// must be the row's kid. Never print the result (josekit's `Jwk` Debug shows `d`).
    pub(crate) fn decrypt_private_jwk(&self, key: &StoredSigningKey) -> Result<Jwk, KeyError> {
        let master = self
            .find(&key.master_key_id)
            .ok_or_else(|| KeyError::UnknownMasterKey(key.master_key_id.clone()))?;
        let decrypter = Dir
            .decrypter_from_bytes(master.bytes)
            .map_err(|e| KeyError::Encryption(e.to_string()))?;
        let (plaintext, header) =
            josekit::jwe::deserialize_compact(&key.encrypted_private_jwk, &decrypter).map_err(
                |e| {
                    KeyError::Encryption(format!(
                        "cannot decrypt the private key of {}: {e}",
                        key.kid
                    ))
                },
            )?;
        // `dir` fixes the key, but the header picks `enc`: accept only what this module writes.
        if header.content_encryption() != Some(CONTENT_ENCRYPTION) {
            return Err(KeyError::Encryption(format!(
                "the private key of {} is not encrypted with {CONTENT_ENCRYPTION}",
                key.kid
            )));
        }
        let malformed = |reason: &str| KeyError::MalformedKey {
            kid: key.kid.clone(),
            reason: reason.to_owned(),
        };
        let private = Jwk::from_bytes(&plaintext)
            .map_err(|_| malformed("the decrypted private key is not a JWK"))?;
        let thumbprint = jwk_thumbprint(private.as_ref())
            .map_err(|_| malformed("the decrypted private key has no thumbprint"))?;
        if thumbprint != key.kid {
            return Err(malformed(
                "the decrypted private key belongs to another kid",
            ));
        }
        Ok(private)
    }

    /// Re-encrypts `key`'s private part under the current master key; `None` if it already is.
    /// Pure: the caller persists the result.
    pub fn rewrap(&self, key: &StoredSigningKey) -> Result<Option<StoredSigningKey>, KeyError> {
        if key.master_key_id == self.current.id {
            return Ok(None);
        }
        let private = self.decrypt_private_jwk(key)?;
        let private_json = serde_json::to_vec(&private).map_err(|e| KeyError::MalformedKey {
            kid: key.kid.clone(),
            reason: e.to_string(),
        })?;
        let (encrypted_private_jwk, master_key_id) = self.encrypt_private_jwk(&private_json)?;
        Ok(Some(StoredSigningKey {
            encrypted_private_jwk,
            master_key_id,
            ..key.clone()
        }))
    }

    /// Every key of `keys` not yet under the current master key, re-encrypted under it (keys
    /// already under it are left out). Fails on the first key that cannot be decrypted, so a
    /// missing older master key is noticed before anything is written.
    pub fn rewrap_all(&self, keys: &[StoredSigningKey]) -> Result<Vec<StoredSigningKey>, KeyError> {
        keys.iter()
            .filter_map(|key| self.rewrap(key).transpose())
            .collect()
    }
}

/// The `cty` of a secret sealed for `purpose`: the purpose rides in the authenticated header,
/// so a value sealed for one purpose cannot be passed off as another's.
fn sealed_content_type(purpose: &str) -> String {
    format!("palisade-{purpose}")
}

/// Small secrets (TOTP seeds) sealed as the private JWKs are: a compact JWE, `dir` +
/// `A256GCM`, `kid` = the master key's id, `cty` = `palisade-<purpose>`.
impl SecretSealer for MasterKeySet {
    fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Sealed, SealError> {
        let ciphertext = self
            .encrypt_under_current(&sealed_content_type(purpose), plaintext)
            .map_err(|e| SealError::Invalid(format!("cannot seal: {e}")))?;
        Ok(Sealed {
            ciphertext,
            master_key_id: self.current.id.clone(),
        })
    }

    /// The header is read before decrypting only to pick the master key; what it says is
    /// checked after decryption, when A256GCM has proved it unaltered.
    fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let unreadable = |what: &str| SealError::Invalid(what.to_owned());
        let header =
            josekit::jwt::decode_header(sealed).map_err(|_| unreadable("not a compact JWE"))?;
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| unreadable("the header names no master key"))?;
        let master = self
            .find(kid)
            .ok_or_else(|| SealError::UnknownMasterKey(kid.to_owned()))?;
        let decrypter = Dir
            .decrypter_from_bytes(master.bytes)
            .map_err(|e| SealError::Invalid(e.to_string()))?;
        let (plaintext, header) = josekit::jwe::deserialize_compact(sealed, &decrypter)
            .map_err(|_| unreadable("damaged, or sealed under another key with this id"))?;
        // `dir` fixes the key, but the header picks `enc`: accept only what `seal` writes.
        if header.content_encryption() != Some(CONTENT_ENCRYPTION) {
            return Err(unreadable("not encrypted with A256GCM"));
        }
        if header.content_type() != Some(sealed_content_type(purpose).as_str()) {
            return Err(unreadable("sealed for another purpose"));
        }
        Ok(plaintext)
    }

    fn current_master_key_id(&self) -> String {
        self.current.id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::generate_signing_key;
    use crate::plan::KeyToGenerate;
    use chrono::Utc;
    use palisade_core::model::KeyState;
    use palisade_core::ports::SigningAlgorithm;

    fn stored_key(alg: SigningAlgorithm, masters: &MasterKeySet) -> StoredSigningKey {
        let now = Utc::now();
        let spec = KeyToGenerate {
            alg,
            state: KeyState::Current,
            activates_at: now,
            activated_at: Some(now),
        };
        generate_signing_key(&spec, now, masters).unwrap()
    }

    #[test]
    fn parses_standard_and_url_safe_base64_of_32_bytes() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 8 + 3) as u8 | 0xf8);
        let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(
            standard.contains('+') || standard.contains('/'),
            "{standard}"
        );
        let url_safe = URL_SAFE_NO_PAD.encode(bytes);
        let a = MasterKey::from_base64(&format!(" {standard}\n")).unwrap();
        let b = MasterKey::from_base64(&url_safe).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id().len(), 8);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err(), "5 bytes");
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
    }

    #[test]
    fn load_or_create_writes_a_0600_file_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("master.key");
        let created = MasterKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(created, loaded);
    }

    #[test]
    fn encrypts_with_dir_a256gcm_and_decrypts_back_to_the_same_key() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let key = stored_key(SigningAlgorithm::ES256, &masters);
        assert_eq!(key.master_key_id, masters.current().id());
        let header = josekit::jwt::decode_header(&key.encrypted_private_jwk).unwrap();
        assert_eq!(header.claim("alg").and_then(Value::as_str), Some("dir"));
        assert_eq!(header.claim("enc").and_then(Value::as_str), Some("A256GCM"));
        assert_eq!(
            header.claim("kid").and_then(Value::as_str),
            Some(masters.current().id())
        );
        let private = masters.decrypt_private_jwk(&key).unwrap();
        assert_eq!(private.key_id(), Some(key.kid.as_str()));
        assert!(private.parameter("d").is_some());
        assert!(
            !key.encrypted_private_jwk
                .contains(private.parameter("d").and_then(Value::as_str).unwrap())
        );
    }

    #[test]
    fn refuses_a_wrong_master_key_and_a_swapped_private_part() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let key = stored_key(SigningAlgorithm::EdDSA, &masters);

        let impostor = MasterKey::generate()
            .unwrap()
            .with_id(masters.current().id())
            .unwrap();
        let wrong = MasterKeySet::single(impostor);
        assert!(matches!(
            wrong.decrypt_private_jwk(&key),
            Err(KeyError::Encryption(_))
        ));

        let stranger = MasterKeySet::single(MasterKey::generate().unwrap());
        assert!(matches!(
            stranger.decrypt_private_jwk(&key),
            Err(KeyError::UnknownMasterKey(_))
        ));

        let other = stored_key(SigningAlgorithm::EdDSA, &masters);
        let swapped = StoredSigningKey {
            encrypted_private_jwk: other.encrypted_private_jwk,
            ..key
        };
        assert!(matches!(
            masters.decrypt_private_jwk(&swapped),
            Err(KeyError::MalformedKey { .. })
        ));
    }

    #[test]
    fn rewrap_moves_every_key_to_the_current_master_key() {
        let old = MasterKey::generate().unwrap();
        let before = MasterKeySet::single(old.clone());
        let keys: Vec<StoredSigningKey> = SigningAlgorithm::ALL
            .into_iter()
            .map(|alg| stored_key(alg, &before))
            .collect();

        let new = MasterKey::generate().unwrap();
        let after = MasterKeySet::new(new.clone(), [old]).unwrap();
        let rewrapped = after.rewrap_all(&keys).unwrap();
        assert_eq!(rewrapped.len(), keys.len());
        for (original, moved) in keys.iter().zip(&rewrapped) {
            assert_eq!(moved.master_key_id, new.id());
            assert_eq!(moved.kid, original.kid);
            assert_eq!(moved.state, original.state);
            assert_eq!(moved.public_jwk, original.public_jwk);
            assert_ne!(moved.encrypted_private_jwk, original.encrypted_private_jwk);
            let only_new = MasterKeySet::single(new.clone());
            assert!(only_new.decrypt_private_jwk(moved).is_ok());
        }
        // Idempotent: nothing left to move.
        assert!(after.rewrap_all(&rewrapped).unwrap().is_empty());
        // Without the old master key, rewrap fails instead of skipping.
        assert!(MasterKeySet::single(new).rewrap_all(&keys).is_err());
    }

    #[test]
    fn duplicate_master_key_ids_are_refused() {
        let a = MasterKey::generate().unwrap().with_id("one").unwrap();
        let b = MasterKey::generate().unwrap().with_id("one").unwrap();
        assert!(MasterKeySet::new(a, [b]).is_err());
        assert!(MasterKey::generate().unwrap().with_id("bad id!").is_err());
    }

    #[test]
    fn master_keys_never_print_their_bytes() {
        let key = MasterKey::generate().unwrap();
        let encoded = key.to_base64();
        let set = MasterKeySet::single(key.clone());
        for debug in [
            format!("{key:?}"),
            format!("{set:?}"),
            format!("{encoded:?}"),
        ] {
            assert!(!debug.contains(encoded.expose()), "{debug}");
            let standard = base64::engine::general_purpose::STANDARD.encode(key.bytes);
            assert!(!debug.contains(&standard), "{debug}");
            assert!(!debug.contains(&format!("{:?}", key.bytes)), "{debug}");
        }
    }

    #[test]
    fn processes_racing_to_create_the_key_file_all_end_up_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("master.key");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    MasterKey::load_or_create(&path).map(|k| k.id().to_owned())
                })
            })
            .collect();
        let ids: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("every racer gets a key"))
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("master.key")]);
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_bytes_and_names_its_master_key() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let secret = b"12345678901234567890";
        let sealed = masters.seal("totp", secret).unwrap();
        assert_eq!(sealed.master_key_id, masters.current().id());
        assert_eq!(masters.current_master_key_id(), masters.current().id());
        let header = josekit::jwt::decode_header(&sealed.ciphertext).unwrap();
        assert_eq!(header.claim("alg").and_then(Value::as_str), Some("dir"));
        assert_eq!(header.claim("enc").and_then(Value::as_str), Some("A256GCM"));
        assert_eq!(
            header.claim("cty").and_then(Value::as_str),
            Some("palisade-totp")
        );
        assert_eq!(
            header.claim("kid").and_then(Value::as_str),
            Some(masters.current().id())
        );
        assert!(!sealed.ciphertext.contains(&URL_SAFE_NO_PAD.encode(secret)));
        assert_eq!(masters.open("totp", &sealed.ciphertext).unwrap(), secret);
        // Each seal has its own IV.
        assert_ne!(masters.seal("totp", secret).unwrap(), sealed);
    }

    #[test]
    fn a_secret_sealed_for_one_purpose_does_not_open_for_another() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let sealed = masters.seal("totp", b"seed").unwrap();
        assert!(matches!(
            masters.open("webauthn", &sealed.ciphertext),
            Err(SealError::Invalid(_))
        ));
        // A private JWK (cty jwk+json) is not a sealed secret either.
        let (jwk, _) = masters.encrypt_private_jwk(br#"{"kty":"oct"}"#).unwrap();
        assert!(matches!(
            masters.open("totp", &jwk),
            Err(SealError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_or_mangled_sealed_secret_is_refused() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let sealed = masters.seal("totp", b"seed-seed-seed-seed!").unwrap();
        let parts: Vec<&str> = sealed.ciphertext.split('.').collect();
        assert_eq!(parts.len(), 5);
        let mut ciphertext = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
        ciphertext[0] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&ciphertext);
        let tampered = [parts[0], parts[1], parts[2], &flipped, parts[4]].join(".");
        assert!(matches!(
            masters.open("totp", &tampered),
            Err(SealError::Invalid(_))
        ));
        // The header is authenticated too: relabelling the purpose breaks the tag.
        let mut header: Map<String, Value> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        header.insert("cty".into(), Value::String("palisade-other".into()));
        let relabelled_header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let relabelled = [&relabelled_header, parts[1], parts[2], parts[3], parts[4]].join(".");
        assert!(matches!(
            masters.open("other", &relabelled),
            Err(SealError::Invalid(_))
        ));
        for garbage in ["", "not a jwe", "a.b.c.d.e"] {
            assert!(matches!(
                masters.open("totp", garbage),
                Err(SealError::Invalid(_))
            ));
        }
        // Under another key that claims the same id.
        let impostor = MasterKey::generate()
            .unwrap()
            .with_id(masters.current().id())
            .unwrap();
        assert!(matches!(
            MasterKeySet::single(impostor).open("totp", &sealed.ciphertext),
            Err(SealError::Invalid(_))
        ));
    }

    #[test]
    fn a_secret_encrypted_with_another_content_encryption_is_refused() {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        // A128CBC-HS256 also takes a 32-byte key under `dir`.
        let mut header = JweHeader::new();
        header.set_content_encryption("A128CBC-HS256");
        header.set_content_type("palisade-totp");
        header.set_key_id(masters.current().id());
        let encrypter = Dir.encrypter_from_bytes(masters.current().bytes).unwrap();
        let other = josekit::jwe::serialize_compact(b"seed", &header, &encrypter).unwrap();
        assert!(matches!(
            masters.open("totp", &other),
            Err(SealError::Invalid(_))
        ));
    }

    #[test]
    fn a_secret_sealed_under_an_older_master_key_opens_while_that_key_is_configured() {
        let old = MasterKey::generate().unwrap();
        let sealed = MasterKeySet::single(old.clone())
            .seal("totp", b"seed")
            .unwrap();
        let new = MasterKey::generate().unwrap();
        let both = MasterKeySet::new(new.clone(), [old.clone()]).unwrap();
        assert_eq!(both.open("totp", &sealed.ciphertext).unwrap(), b"seed");
        assert_eq!(both.current_master_key_id(), new.id());
        assert_eq!(both.seal("totp", b"seed").unwrap().master_key_id, new.id());
        let err = MasterKeySet::single(new)
            .open("totp", &sealed.ciphertext)
            .unwrap_err();
        assert!(
            matches!(&err, SealError::UnknownMasterKey(id) if id == old.id()),
            "{err:?}"
        );
    }
}
