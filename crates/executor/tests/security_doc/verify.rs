use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn verify(header: &str, body: &[u8], secret: &[u8], now_unix: u64) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for field in header.split(',') {
        match field.trim().split_once('=') {
            Some(("t", value)) if t.is_none() => t = Some(value),
            Some(("t", _)) => return false,
            Some(("v1", value)) => signatures.extend(from_hex(value)),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(sent) = t.parse::<u64>() else { return false };
    if now_unix.abs_diff(sent) > 300 {
        return false;
    }
    signatures.iter().any(|signature| {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
            return false;
        };
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    })
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
