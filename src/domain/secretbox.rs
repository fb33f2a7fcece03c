//! Credentials at rest: AES-256-GCM with a 96-bit random nonce per value. The associated data binds a
//! ciphertext to the row it belongs to, so a value copied into another merchant's row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    #[error("the encryption key must be 32 bytes, given as 64 hex characters")]
    BadKey,
    #[error("the value cannot be decrypted with this key (wrong key, wrong row, or tampered)")]
    Undecryptable,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// From `COWRY_ENCRYPTION_KEY`: 64 hex characters (e.g. `openssl rand -hex 32`).
    pub fn from_hex(key: &str) -> Result<SecretBox, SecretBoxError> {
        let bytes = hex::decode(key.trim()).map_err(|_| SecretBoxError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretBoxError::BadKey)?;
        Ok(SecretBox { cipher })
    }

    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretBoxError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| SecretBoxError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

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
        let other = SecretBox::from_hex(&KEY.replace("00", "ff")).unwrap();
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
    fn keys_must_be_32_bytes_of_hex() {
        assert!(SecretBox::from_hex("abcd").is_err());
        assert!(SecretBox::from_hex(&"zz".repeat(32)).is_err());
        assert!(SecretBox::from_hex(KEY).is_ok());
        assert!(!format!("{:?}", SecretBox::from_hex(KEY).unwrap()).contains("0001"));
    }
}
