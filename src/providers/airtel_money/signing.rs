//! Airtel's message signing for collections (`POST /merchant/v2/payments/`), as Airtel's published
//! client does it: a fresh AES-256 key and IV encrypt the exact body bytes (CBC, PKCS#7) into
//! `x-signature`; `"<key b64>:<iv b64>"` is sealed with Airtel's RSA public key (PKCS#1 v1.5, from
//! `GET /v1/rsa/encryption-keys`, base64 DER) into `x-key`. Airtel recomputes the first from the second.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

use crate::providers::ProviderError;

/// The `x-signature` and `x-key` headers for `body`.
pub fn sign(body: &[u8], public_key_b64: &str) -> Result<(String, String), ProviderError> {
    let protocol = |message: &str| ProviderError::Protocol {
        provider: super::NAME,
        message: message.to_owned(),
    };
    let der = B64
        .decode(public_key_b64.trim())
        .map_err(|_| protocol("the encryption key is not base64"))?;
    let public_key = RsaPublicKey::from_public_key_der(&der)
        .map_err(|_| protocol("the encryption key is not an RSA public key"))?;
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut key).map_err(|_| protocol("no randomness"))?;
    getrandom::fill(&mut iv).map_err(|_| protocol("no randomness"))?;
    let sealed_body = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(body);
    let pair = format!("{}:{}", B64.encode(key), B64.encode(iv));
    let sealed_key = public_key
        .encrypt(&mut rand_core::OsRng, Pkcs1v15Encrypt, pair.as_bytes())
        .map_err(|_| protocol("could not seal the signing key"))?;
    Ok((B64.encode(sealed_body), B64.encode(sealed_key)))
}
