//! Standard Webhooks signatures: `webhook-signature: v1,<base64 of HMAC-SHA256(key,
//! "<webhook-id>.<webhook-timestamp>.<body>")>`, the key being the base64 after `whsec_` in
//! the endpoint's secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// An endpoint's signing key.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    /// The key of a secret `whsec_<base64>` of 24 to 64 bytes (as the specification asks).
    pub fn from_secret(secret: &str) -> Result<Key, String> {
        let encoded = secret.strip_prefix("whsec_").ok_or(
            "the secret must start with whsec_ (make one: echo whsec_$(openssl rand -base64 32))",
        )?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the secret after whsec_ is not base64")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the secret holds {} bytes; 24 to 64 are needed",
                key.len()
            ));
        }
        Ok(Key(key))
    }

    /// The `webhook-signature` value of `body` sent as `id` at `timestamp` (Unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_specifications_example_signs_the_same() {
        let key = Key::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_checked() {
        for (secret, why) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whsec_%%%", "not base64"),
            ("whsec_c2hvcnQ=", "24 to 64"),
        ] {
            assert!(
                Key::from_secret(secret).unwrap_err().contains(why),
                "{secret}"
            );
        }
        assert!(Key::from_secret(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).is_ok());
    }
}
