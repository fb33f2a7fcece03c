//! Credentials at rest: AES-256-GCM with a 96-bit random nonce per value. The associated data binds a
//! ciphertext to the row it belongs to, so a value copied into another merchant's row does not decrypt.
//!
//! Keys rotate: every value names the key that sealed it (`0xC1 ‖ key id ‖ nonce ‖ ciphertext`, the
//! key id being the first 4 bytes of the key's SHA-256), so a server holding the current key and
//! older decrypt-only keys (`COWRY_OLD_ENCRYPTION_KEYS`) opens everything, and `cowry keys rotate`
//! re-seals what an older key sealed. Values written before key ids existed (`nonce ‖ ciphertext`)
//! are still opened, by trying each key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
const TAGGED: u8 = 0xC1;
const KEY_ID_LEN: usize = 4;

#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
    /// A second key derived from this one (SHA-256 over a label and the key), for `derive`: the AES key
    /// itself is never used for anything but AES-GCM.
    derivation: [u8; 32],
}

impl Key {
    fn from_hex(hex_key: &str) -> Result<Key, SecretBoxError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SecretBoxError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretBoxError::BadKey)?;
        let digest = Sha256::digest(&bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let derivation = Sha256::new()
            .chain_update(b"cowry derivation key\0")
            .chain_update(&bytes)
            .finalize()
            .into();
        Ok(Key {
            id,
            cipher,
            derivation,
        })
    }

    fn decrypt(&self, nonce_and_ciphertext: &[u8], associated: &[u8]) -> Option<Vec<u8>> {
        if nonce_and_ciphertext.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .ok()
    }
}

/// The current key (seals and opens) and any older keys (open only).
#[derive(Clone)]
pub struct SecretBox {
    current: Key,
    old: Vec<Key>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    #[error("the encryption key must be 32 bytes, given as 64 hex characters")]
    BadKey,
    #[error(
        "the value cannot be decrypted with any configured key (wrong key, wrong row, or tampered)"
    )]
    Undecryptable,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretBox(key {}, {} old)",
            self.key_id(),
            self.old.len()
        )
    }
}

impl SecretBox {
    /// From `COWRY_ENCRYPTION_KEY`: 64 hex characters (e.g. `openssl rand -hex 32`).
    pub fn from_hex(key: &str) -> Result<SecretBox, SecretBoxError> {
        Ok(SecretBox {
            current: Key::from_hex(key)?,
            old: Vec::new(),
        })
    }

    /// Adds keys that open values sealed before a rotation but never seal new ones.
    pub fn with_old_keys<'a>(
        mut self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<SecretBox, SecretBoxError> {
        for key in keys {
            self.old.push(Key::from_hex(key)?);
        }
        Ok(self)
    }

    /// A secret for `label` derived from the current key (HMAC-SHA256 under a key derived from it): the
    /// same label gives the same secret while the key stays, and nothing about the key. Rotating the
    /// key changes every derived secret.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.current.derivation)
            .expect("HMAC takes any key length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// The current key's id (hex), safe to show: it names the key without revealing it.
    pub fn key_id(&self) -> String {
        hex::encode(self.current.id)
    }

    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        [&[TAGGED][..], &self.current.id, &nonce, &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if let Some((id, rest)) = tagged(sealed) {
            if let Some(key) = self.keys().find(|k| k.id == id) {
                if let Some(plain) = key.decrypt(rest, associated) {
                    return Ok(plain);
                }
            }
        }
        // Untagged (sealed before key ids existed), or a legacy value that happens to look tagged.
        self.keys()
            .find_map(|k| k.decrypt(sealed, associated))
            .ok_or(SecretBoxError::Undecryptable)
    }

    /// Whether `sealed` was sealed by the current key (otherwise `cowry keys rotate` re-seals it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        tagged(sealed).is_some_and(|(id, _)| id == self.current.id)
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(&self.old)
    }
}

fn tagged(sealed: &[u8]) -> Option<([u8; KEY_ID_LEN], &[u8])> {
    let rest = sealed.strip_prefix(&[TAGGED])?;
    if rest.len() < KEY_ID_LEN + NONCE_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(KEY_ID_LEN);
    Some((id.try_into().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const NEXT: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trips_and_refuses_other_rows_keys_and_tampering() {
        let sealed_box = SecretBox::from_hex(KEY).unwrap();
        let sealed = sealed_box.seal(b"{\"secretKey\":\"sk_live_x\"}", b"mer_a/paystack");
        assert!(
            !sealed.windows(9).any(|w| w == b"sk_live_x"),
            "no plaintext in the sealed value"
        );
        assert_eq!(
            sealed_box.open(&sealed, b"mer_a/paystack").unwrap(),
            b"{\"secretKey\":\"sk_live_x\"}"
        );
        assert_ne!(
            sealed_box.seal(b"same", b"a"),
            sealed_box.seal(b"same", b"a"),
            "a fresh nonce each time"
        );
        assert_eq!(
            sealed_box.open(&sealed, b"mer_b/paystack"),
            Err(SecretBoxError::Undecryptable)
        );
        let other = SecretBox::from_hex(NEXT).unwrap();
        assert_eq!(
            other.open(&sealed, b"mer_a/paystack"),
            Err(SecretBoxError::Undecryptable)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            sealed_box.open(&tampered, b"mer_a/paystack"),
            Err(SecretBoxError::Undecryptable)
        );
        assert_eq!(
            sealed_box.open(b"short", b"x"),
            Err(SecretBoxError::Undecryptable)
        );
    }

    #[test]
    fn an_old_key_opens_what_it_sealed_but_never_seals() {
        let before = SecretBox::from_hex(KEY).unwrap();
        let sealed = before.seal(b"secret", b"row");
        let after = SecretBox::from_hex(NEXT)
            .unwrap()
            .with_old_keys([KEY])
            .unwrap();
        assert_eq!(after.open(&sealed, b"row").unwrap(), b"secret");
        assert!(!after.is_current(&sealed), "rotation re-seals it");
        let resealed = after.seal(b"secret", b"row");
        assert!(after.is_current(&resealed));
        assert_eq!(
            before.open(&resealed, b"row"),
            Err(SecretBoxError::Undecryptable),
            "sealed with the new key"
        );
        assert_ne!(before.key_id(), after.key_id());
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        // The first format: nonce ‖ ciphertext under the one key.
        let key = Key::from_hex(KEY).unwrap();
        let nonce = [7u8; NONCE_LEN];
        let legacy = [
            &nonce[..],
            &key.cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: b"old".as_slice(),
                        aad: b"row",
                    },
                )
                .unwrap(),
        ]
        .concat();
        let rotated = SecretBox::from_hex(NEXT)
            .unwrap()
            .with_old_keys([KEY])
            .unwrap();
        assert_eq!(rotated.open(&legacy, b"row").unwrap(), b"old");
        assert!(!rotated.is_current(&legacy));
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(SecretBox::from_hex("abcd").is_err());
        assert!(SecretBox::from_hex(&"zz".repeat(32)).is_err());
        assert!(SecretBox::from_hex(KEY).is_ok());
        assert!(SecretBox::from_hex(KEY)
            .unwrap()
            .with_old_keys(["nothex"])
            .is_err());
        assert!(!format!("{:?}", SecretBox::from_hex(KEY).unwrap()).contains("0001"));
    }
}
