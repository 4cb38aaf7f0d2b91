//! How a value is laid out in Redis: a small header that carries its freshness, then the value
//! in MessagePack.
//!
//! Carrying the write time in the entry lets a fresh hit cost exactly one `GET`: no second key,
//! no script, no TTL query.

use serde::{Serialize, de::DeserializeOwned};

/// Marks an entry written by this crate, format 1.
const MAGIC: &[u8; 4] = b"rc1\0";
const HEADER: usize = MAGIC.len() + 8;

/// Why an entry could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("entry has no rediscache header (written by something else?)")]
    NoHeader,
    #[error("value does not decode as the function's type: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("value does not encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// Encodes `value` written at `written_ms`.
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    written_ms: u64,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&written_ms.to_be_bytes());
    rmp_serde::encode::write_named(&mut out, value)?;
    Ok(out)
}

/// Reads the write time of an entry without decoding its value.
pub(crate) fn written_ms(entry: &[u8]) -> Result<u64, CodecError> {
    let header = entry.get(..HEADER).ok_or(CodecError::NoHeader)?;
    if &header[..MAGIC.len()] != MAGIC {
        return Err(CodecError::NoHeader);
    }
    let mut stamp = [0u8; 8];
    stamp.copy_from_slice(&header[MAGIC.len()..]);
    Ok(u64::from_be_bytes(stamp))
}

/// Decodes an entry into its write time and value.
pub(crate) fn decode<T: DeserializeOwned>(entry: &[u8]) -> Result<(u64, T), CodecError> {
    let written = written_ms(entry)?;
    let value = rmp_serde::from_slice(&entry[HEADER..])?;
    Ok((written, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn round_trips_values_and_stamp() {
        let mut map = BTreeMap::new();
        map.insert((1u8, 2u8), vec![Some("a".to_string()), None]);
        let bytes = encode(&map, 42).expect("encodes");
        let (stamp, back) =
            decode::<BTreeMap<(u8, u8), Vec<Option<String>>>>(&bytes).expect("decodes");
        assert_eq!(stamp, 42);
        assert_eq!(back, map);
    }

    #[test]
    fn empty_string_is_a_value() {
        let bytes = encode("", 1).expect("encodes");
        let (_, back): (u64, String) = decode(&bytes).expect("decodes");
        assert_eq!(back, "");
    }

    #[test]
    fn foreign_bytes_are_rejected_not_panicked_on() {
        assert!(matches!(
            decode::<String>(b"hello"),
            Err(CodecError::NoHeader)
        ));
        assert!(matches!(decode::<String>(b""), Err(CodecError::NoHeader)));
        let mut bytes = encode(&7u32, 1).expect("encodes");
        bytes.truncate(HEADER);
        assert!(matches!(decode::<u32>(&bytes), Err(CodecError::Decode(_))));
    }

    #[test]
    fn another_type_is_a_decode_error() {
        let bytes = encode("text", 1).expect("encodes");
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }
}
