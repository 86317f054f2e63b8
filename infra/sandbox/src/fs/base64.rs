//! Standard base64 (RFC 4648), as FS uses for documents and ids, through the `base64` crate.

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;

/// Encodes bytes.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes text, or `None` if it is not valid base64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.as_bytes()).ok()
}
