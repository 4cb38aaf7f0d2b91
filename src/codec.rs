//! How a value is laid out in Redis: a small header that carries its freshness, then the value
//! in MessagePack.
//!
//! Carrying the write time in the entry lets a fresh hit cost exactly one `GET`: no second key,
//! no script, no TTL query. Format 2 (`rc2\0`, 20 bytes of header) adds the generation of the
//! function under which the computation started, so `NAME_invalidate_all` and
//! `NAME_expire_all` are decided by the reader, in memory, still in one `GET`. Format 1
//! (`rc1\0`, 12 bytes: no generation) still reads, as generation 0; the write time sits at the
//! same offset in both, which the scripts compare.
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

/// Marks an entry written by this crate, format 2: magic, write time, generation.
const MAGIC: &[u8; 4] = b"rc2\0";
const HEADER: usize = MAGIC.len() + 8 + 8;
/// Format 1: magic and write time only; read as generation 0.
const MAGIC_V1: &[u8; 4] = b"rc1\0";
const HEADER_V1: usize = MAGIC_V1.len() + 8;

/// What an entry's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// When it was written (ms since the epoch, the writer's clock).
    pub(crate) written: u64,
    /// The function's generation when its computation started (0 for format 1).
    pub(crate) generation: u64,
}

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

/// Encodes `value` stamped with `stamp`, its byte sequences as `bin` when that form reads
/// back as the same value (see the module's documentation).
pub(crate) fn encode<T: Serialize + DeserializeOwned>(
    value: &T,
    stamp: Stamp,
) -> Result<Vec<u8>, CodecError> {
    let plain = write(value, stamp, BytesMode::Normal)?;
    // `rmp_serde` picks `bin` from a sequence's first element and fails when a later one is
    // not a byte (an untagged enum of bytes and text): such values take the plain form.
    let Ok(compact) = write(value, stamp, BytesMode::ForceIterables) else {
        return Ok(plain);
    };
    if compact == plain {
        // No byte sequence in the value: nothing to check.
        return Ok(plain);
    }
    let same = decode::<T>(&compact)
        .and_then(|(_, back)| write(&back, stamp, BytesMode::Normal))
        .is_ok_and(|again| again == plain);
    Ok(if same { compact } else { plain })
}

/// The header, then `value` in MessagePack (structs as maps, so fields may be added later).
fn write<T: Serialize + ?Sized>(
    value: &T,
    stamp: Stamp,
    bytes: BytesMode,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&header(stamp));
    let mut serializer = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_bytes(bytes);
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// The header of an entry with `stamp`: the scripts compare entries' write times and
/// generations by comparing these bytes (big-endian, so byte order is number order).
pub(crate) fn header(stamp: Stamp) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(MAGIC);
    header[4..12].copy_from_slice(&stamp.written.to_be_bytes());
    header[12..].copy_from_slice(&stamp.generation.to_be_bytes());
    header
}

fn be(bytes: &[u8]) -> u64 {
    let mut n = [0u8; 8];
    n.copy_from_slice(bytes);
    u64::from_be_bytes(n)
}

/// Reads an entry's header without decoding its value; returns it and where the value starts.
fn read_header(entry: &[u8]) -> Result<(Stamp, usize), CodecError> {
    match entry.get(..4) {
        Some(m) if m == MAGIC && entry.len() >= HEADER => Ok((
            Stamp {
                written: be(&entry[4..12]),
                generation: be(&entry[12..20]),
            },
            HEADER,
        )),
        Some(m) if m == MAGIC_V1 && entry.len() >= HEADER_V1 => Ok((
            Stamp {
                written: be(&entry[4..12]),
                generation: 0,
            },
            HEADER_V1,
        )),
        _ => Err(CodecError::NoHeader),
    }
}

/// Reads the write time of an entry without decoding its value.
#[cfg(test)]
pub(crate) fn written_ms(entry: &[u8]) -> Result<u64, CodecError> {
    read_header(entry).map(|(stamp, _)| stamp.written)
}

/// Decodes an entry into its stamp and value.
pub(crate) fn decode<T: DeserializeOwned>(entry: &[u8]) -> Result<(Stamp, T), CodecError> {
    let (stamp, at) = read_header(entry)?;
    let value = rmp_serde::from_slice(&entry[at..])?;
    Ok((stamp, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};

    fn at(written: u64) -> Stamp {
        Stamp {
            written,
            generation: 0,
        }
    }

    #[test]
    fn a_generation_round_trips_and_format_1_reads_as_generation_0() {
        let stamp = Stamp {
            written: 7,
            generation: 1_733_000_000_000,
        };
        let bytes = encode(&"v".to_string(), stamp).expect("encodes");
        assert_eq!(
            decode::<String>(&bytes).expect("decodes"),
            (stamp, "v".to_string())
        );
        // A format 1 entry, as the previous version wrote it.
        let mut v1 = b"rc1\0".to_vec();
        v1.extend_from_slice(&9u64.to_be_bytes());
        v1.extend_from_slice(&rmp_serde::to_vec(&"old").expect("encodes"));
        assert_eq!(
            decode::<String>(&v1).expect("decodes"),
            (at(9), "old".to_string())
        );
    }

    #[test]
    fn round_trips_values_and_stamp() {
        let mut map = BTreeMap::new();
        map.insert((1u8, 2u8), vec![Some("a".to_string()), None]);
        let bytes = encode(&map, at(42)).expect("encodes");
        let (stamp, back) =
            decode::<BTreeMap<(u8, u8), Vec<Option<String>>>>(&bytes).expect("decodes");
        assert_eq!(stamp.written, 42);
        assert_eq!(back, map);
    }

    #[test]
    fn empty_string_is_a_value() {
        let bytes = encode(&String::new(), at(1)).expect("encodes");
        let (_, back): (Stamp, String) = decode(&bytes).expect("decodes");
        assert_eq!(back, "");
    }

    #[test]
    fn foreign_bytes_are_rejected_not_panicked_on() {
        assert!(matches!(
            decode::<String>(b"hello"),
            Err(CodecError::NoHeader)
        ));
        assert!(matches!(decode::<String>(b""), Err(CodecError::NoHeader)));
        let mut bytes = encode(&7u32, at(1)).expect("encodes");
        bytes.truncate(HEADER);
        assert!(matches!(decode::<u32>(&bytes), Err(CodecError::Decode(_))));
    }

    #[test]
    fn another_type_is_a_decode_error() {
        let bytes = encode(&"text".to_string(), at(1)).expect("encodes");
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }

    #[test]
    fn byte_sequences_are_written_as_bin() {
        let value = vec![200u8; 100];
        let bytes = encode(&value, at(1)).expect("encodes");
        // bin 8: marker 0xc4, one length byte, the bytes as they are.
        assert_eq!(&bytes[HEADER..HEADER + 2], &[0xc4, 100]);
        assert_eq!(bytes.len(), HEADER + 2 + 100);
        let (_, back): (Stamp, Vec<u8>) = decode(&bytes).expect("decodes");
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
        let bytes = encode(&blob, at(1)).expect("encodes");
        let plain = write(&blob, at(1), BytesMode::Normal).expect("encodes");
        assert!(
            bytes.len() < plain.len(),
            "{} < {}",
            bytes.len(),
            plain.len()
        );
        let (_, back): (Stamp, Blob) = decode(&bytes).expect("decodes");
        assert_eq!(back, blob);
    }

    #[test]
    fn entries_with_bytes_as_arrays_still_decode() {
        // The form earlier versions wrote, and the one a value that is not compact-safe gets.
        let value = vec![1u8, 2, 250];
        let plain = write(&value, at(5), BytesMode::Normal).expect("encodes");
        assert_eq!(plain[HEADER], 0x93, "a fixarray of 3");
        assert_eq!(decode::<Vec<u8>>(&plain).expect("decodes"), (at(5), value));
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
        let compact = write(
            &Loose::Bytes(b"abc".to_vec()),
            at(1),
            BytesMode::ForceIterables,
        )
        .expect("encodes");
        assert_eq!(
            decode::<Loose>(&compact).expect("decodes").1,
            Loose::Text("abc".into()),
            "the trap this guards against"
        );
        for value in [Loose::Bytes(b"abc".to_vec()), Loose::Text("abc".into())] {
            let bytes = encode(&value, at(1)).expect("encodes");
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
            write(&cells, at(1), BytesMode::ForceIterables).is_err(),
            "the trap"
        );
        let bytes = encode(&cells, at(1)).expect("encodes");
        assert_eq!(
            bytes,
            write(&cells, at(1), BytesMode::Normal).expect("plain")
        );
        assert_eq!(decode::<Vec<Cell>>(&bytes).expect("decodes").1, cells);
    }

    /// A `HashMap` decodes into another iteration order, so the check cannot tell its compact
    /// form reads back the same: it keeps the plain form, which is safe, only not smaller.
    #[test]
    fn maps_of_bytes_round_trip_whatever_their_order() {
        let map: HashMap<String, Vec<u8>> = (0..20).map(|i| (i.to_string(), vec![i; 3])).collect();
        let bytes = encode(&map, at(1)).expect("encodes");
        let plain = write(&map, at(1), BytesMode::Normal).expect("encodes");
        assert_eq!(bytes, plain, "the plain form, as documented");
        let (_, back): (Stamp, HashMap<String, Vec<u8>>) = decode(&bytes).expect("decodes");
        assert_eq!(back, map);
    }
}
