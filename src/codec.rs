//! How a value is laid out in Redis: a small header that carries its freshness, then the value
//! in MessagePack.
//!
//! Carrying the write time in the entry lets a fresh hit cost exactly one `GET`: no second key,
//! no script, no TTL query.
//!
//! Sequences of bytes (`Vec<u8>`, `&[u8]`, `Box<[u8]>`, wherever they sit in the value) are
//! written as MessagePack `bin` (`rmp_serde`'s `BytesMode::ForceIterables`): a length, then the
//! bytes, instead of an array of one integer per byte. That halves their decoding on every hit
//! and never takes more room (a byte of 128 or more takes two in an array). Both forms decode
//! alike, so entries written either way stay readable. A few `Deserialize` implementations read
//! such a `bin` as something else (an untagged enum may take it for a string), so [`encode`]
//! keeps the compact form only when it reads back as the same value, and otherwise writes the
//! plain one. Values holding a `HashMap` or `HashSet` (whose order changes from one instance to
//! the next) cannot be checked that way and keep the plain form: safe, only not smaller.

use rmp_serde::config::BytesMode;
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

/// Encodes `value` written at `written_ms`, its byte sequences as `bin` when that form reads
/// back as the same value (see the module's documentation).
pub(crate) fn encode<T: Serialize + DeserializeOwned>(
    value: &T,
    written_ms: u64,
) -> Result<Vec<u8>, CodecError> {
    let plain = write(value, written_ms, BytesMode::Normal)?;
    // `rmp_serde` picks `bin` from a sequence's first element and fails when a later one is
    // not a byte (an untagged enum of bytes and text): such values take the plain form.
    let Ok(compact) = write(value, written_ms, BytesMode::ForceIterables) else {
        return Ok(plain);
    };
    if compact == plain {
        // No byte sequence in the value: nothing to check.
        return Ok(plain);
    }
    let same = decode::<T>(&compact)
        .and_then(|(_, back)| write(&back, written_ms, BytesMode::Normal))
        .is_ok_and(|again| again == plain);
    Ok(if same { compact } else { plain })
}

/// The header, then `value` in MessagePack (structs as maps, so fields may be added later).
fn write<T: Serialize + ?Sized>(
    value: &T,
    written_ms: u64,
    bytes: BytesMode,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&header(written_ms));
    let mut serializer = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_bytes(bytes);
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// The header of an entry written at `written_ms`: the scripts compare entries' write times by
/// comparing these bytes (big-endian, so byte order is time order).
pub(crate) fn header(written_ms: u64) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[..MAGIC.len()].copy_from_slice(MAGIC);
    header[MAGIC.len()..].copy_from_slice(&written_ms.to_be_bytes());
    header
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
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};

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
        let bytes = encode(&String::new(), 1).expect("encodes");
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
        let bytes = encode(&"text".to_string(), 1).expect("encodes");
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }

    #[test]
    fn byte_sequences_are_written_as_bin() {
        let value = vec![200u8; 100];
        let bytes = encode(&value, 1).expect("encodes");
        // bin 8: marker 0xc4, one length byte, the bytes as they are.
        assert_eq!(&bytes[HEADER..HEADER + 2], &[0xc4, 100]);
        assert_eq!(bytes.len(), HEADER + 2 + 100);
        let (_, back): (u64, Vec<u8>) = decode(&bytes).expect("decodes");
        assert_eq!(back, value);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob {
        name: String,
        body: Vec<u8>,
        parts: Vec<Vec<u8>>,
    }

    #[test]
    fn bytes_inside_a_struct_are_compact_and_round_trip() {
        let blob = Blob {
            name: "a".into(),
            body: (0..=255).collect(),
            parts: vec![vec![], vec![1, 2, 3]],
        };
        let bytes = encode(&blob, 1).expect("encodes");
        let plain = write(&blob, 1, BytesMode::Normal).expect("encodes");
        assert!(
            bytes.len() < plain.len(),
            "{} < {}",
            bytes.len(),
            plain.len()
        );
        let (_, back): (u64, Blob) = decode(&bytes).expect("decodes");
        assert_eq!(back, blob);
    }

    #[test]
    fn entries_with_bytes_as_arrays_still_decode() {
        // The form earlier versions wrote, and the one a value that is not compact-safe gets.
        let value = vec![1u8, 2, 250];
        let plain = write(&value, 5, BytesMode::Normal).expect("encodes");
        assert_eq!(plain[HEADER], 0x93, "a fixarray of 3");
        assert_eq!(decode::<Vec<u8>>(&plain).expect("decodes"), (5, value));
    }

    /// Reads a `bin` as text when the bytes are UTF-8: the compact form would change the value.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Text(String),
        Bytes(Vec<u8>),
    }

    #[test]
    fn a_value_the_compact_form_would_change_is_written_plain() {
        let compact =
            write(&Loose::Bytes(b"abc".to_vec()), 1, BytesMode::ForceIterables).expect("encodes");
        assert_eq!(
            decode::<Loose>(&compact).expect("decodes").1,
            Loose::Text("abc".into()),
            "the trap this guards against"
        );
        for value in [Loose::Bytes(b"abc".to_vec()), Loose::Text("abc".into())] {
            let bytes = encode(&value, 1).expect("encodes");
            assert_eq!(decode::<Loose>(&bytes).expect("decodes").1, value);
        }
    }

    /// Serializes a byte or a string: a sequence of these may start with a byte.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Cell {
        Byte(u8),
        Text(String),
    }

    #[test]
    fn a_sequence_that_only_starts_with_bytes_is_written_plain() {
        let cells = vec![Cell::Byte(1), Cell::Text("x".into())];
        assert!(
            write(&cells, 1, BytesMode::ForceIterables).is_err(),
            "the trap"
        );
        let bytes = encode(&cells, 1).expect("encodes");
        assert_eq!(bytes, write(&cells, 1, BytesMode::Normal).expect("plain"));
        assert_eq!(decode::<Vec<Cell>>(&bytes).expect("decodes").1, cells);
    }

    /// A `HashMap` decodes into another iteration order, so the check cannot tell its compact
    /// form reads back the same: it keeps the plain form, which is safe, only not smaller.
    #[test]
    fn maps_of_bytes_round_trip_whatever_their_order() {
        let map: HashMap<String, Vec<u8>> = (0..20).map(|i| (i.to_string(), vec![i; 3])).collect();
        let bytes = encode(&map, 1).expect("encodes");
        let plain = write(&map, 1, BytesMode::Normal).expect("encodes");
        assert_eq!(bytes, plain, "the plain form, as documented");
        let (_, back): (u64, HashMap<String, Vec<u8>>) = decode(&bytes).expect("decodes");
        assert_eq!(back, map);
    }
}
