//! Keys: readable, deterministic, bounded, and all of one entry in one cluster hash slot.
//!
//! An entry of function `app::report` called with `("2024-01", 3)` lives at
//! `PREFIX:{app::report("2024-01",3)}`; its lease at `PREFIX:lease{app::report("2024-01",3)}`,
//! its invalidation count at `PREFIX:inv{...}`, its wake-up channel at `PREFIX:{...}:done`. The
//! braces are a Redis Cluster hash tag, so the value, the lease, the count and the channel of an
//! entry always share a slot. Arguments are rendered as JSON, which is deterministic across
//! processes and restarts and tells `1` from `"1"`. When the rendering is longer than
//! [`MAX_READABLE`] it is replaced by a SHA-256 digest, so keys stay short whatever the arguments.
//!
//! Only values start with `PREFIX:{`, the prefix the local tier's client tracking asks Redis to
//! report (`backend/tracking.rs`): a miss writes its lease and, on an invalidation, the count,
//! and every tracking process would otherwise be told of those writes too. The lease and the
//! count have no `:` before their `{`, while every value has one, so no key of one prefix is a
//! key of another (`a:lease{f()}` is `a`'s lease; the cache of prefix `a:lease` keeps its
//! values at `a:lease:{f()}`), and none is tracked by any prefix's tier.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// The longest `name(args)` kept readable; longer ones are hashed.
pub(crate) const MAX_READABLE: usize = 160;

/// The keys of one cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    value: String,
}

impl Key {
    /// The key of the entry of function `name` with arguments rendered as `args`. A readable
    /// key is built in `args`' own buffer ([`ArgsWriter`] leaves room for it): this runs on
    /// every hit, and one allocation per call is then all a key costs.
    pub(crate) fn new(prefix: &str, name: &str, args: String) -> Key {
        let readable = name.len() + args.len() + 2 <= MAX_READABLE;
        let value = if readable {
            let mut value = args;
            value.reserve(prefix.len() + name.len() + 5);
            for part in ["(", name, ":{", prefix] {
                value.insert_str(0, part);
            }
            value.push_str(")}");
            value
        } else {
            let mut hasher = Sha256::new();
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(args.as_bytes());
            let digest = hasher.finalize();
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("{prefix}:{{{name}#{hex}}}")
        };
        Key { value }
    }

    /// Where the value lives.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }

    /// Who is recomputing: holds a random token, expires after `retry`. `PREFIX:lease{TAG}`.
    pub(crate) fn lease(&self) -> String {
        self.beside("lease")
    }

    /// How many times the entry was invalidated lately: a computation that started before an
    /// invalidation must not store. `PREFIX:inv{TAG}`.
    pub(crate) fn invalidations(&self) -> String {
        self.beside("inv")
    }

    /// `PREFIX:{TAG}` with `what` before the hash tag: `PREFIX:what{TAG}`, in the value's slot
    /// but outside the tracked prefix `PREFIX:{`. The first `{` opens the tag: a prefix has none.
    fn beside(&self, what: &str) -> String {
        let tag = self.value.find('{').unwrap_or(self.value.len());
        let mut key = String::with_capacity(self.value.len() + what.len());
        key.push_str(&self.value[..tag]);
        key.push_str(what);
        key.push_str(&self.value[tag..]);
        key
    }

    /// Pub/sub channel announcing that a computation ended.
    pub(crate) fn channel(&self) -> String {
        format!("{}:done", self.value)
    }
}

/// Renders a call's key arguments as the comma-separated JSON of each, into one buffer: JSON
/// is deterministic, and `1` differs from `"1"`. The buffer is allocated once, with room for
/// the whole key around the arguments (see [`Key::new`]).
#[derive(Debug)]
pub(crate) struct ArgsWriter {
    buf: Vec<u8>,
    count: usize,
    error: Option<Error>,
}

/// Room for a readable key with a prefix of up to 64 bytes: `PREFIX:{NAME(ARGS)}`.
const KEY_ROOM: usize = 64 + MAX_READABLE + 3;

impl Default for ArgsWriter {
    fn default() -> ArgsWriter {
        ArgsWriter {
            buf: Vec::with_capacity(KEY_ROOM),
            count: 0,
            error: None,
        }
    }
}

impl ArgsWriter {
    /// Appends one argument.
    pub(crate) fn arg<T: Serialize + ?Sized>(&mut self, arg: &T) {
        if self.error.is_some() {
            return;
        }
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.count += 1;
        if let Err(e) = serde_json::to_writer(&mut self.buf, arg) {
            self.error = Some(Error::Key(e.to_string()));
        }
    }

    /// The rendered arguments, or why one could not be rendered.
    pub(crate) fn finish(self) -> Result<String, Error> {
        match self.error {
            Some(e) => Err(e),
            None => String::from_utf8(self.buf).map_err(|e| Error::Key(e.to_string())),
        }
    }
}

/// Checks a key prefix: Redis keys may hold anything, but braces would break the hash tag.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), Error> {
    if prefix.is_empty() || prefix.contains(['{', '}']) || prefix.len() > 64 {
        return Err(Error::config(
            "prefix",
            format!("{prefix:?} must be 1 to 64 characters without braces"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(parts: &[&dyn erased::Arg]) -> Result<String, Error> {
        let mut w = ArgsWriter::default();
        for p in parts {
            p.write(&mut w);
        }
        w.finish()
    }

    mod erased {
        pub(super) trait Arg {
            fn write(&self, w: &mut super::ArgsWriter);
        }
        impl<T: serde::Serialize> Arg for T {
            fn write(&self, w: &mut super::ArgsWriter) {
                w.arg(self);
            }
        }
    }

    #[test]
    fn simple_arguments_are_readable() {
        let args = render(&[&"2024-01", &3u8]).expect("renders");
        let key = Key::new("rc", "app::report", args);
        assert_eq!(key.value(), r#"rc:{app::report("2024-01",3)}"#);
        assert_eq!(key.lease(), r#"rc:lease{app::report("2024-01",3)}"#);
        assert_eq!(key.invalidations(), r#"rc:inv{app::report("2024-01",3)}"#);
        assert_eq!(key.channel(), r#"rc:{app::report("2024-01",3)}:done"#);
    }

    /// The text from the first '{' to the next '}': what Redis Cluster hashes.
    fn tag(k: &str) -> Option<String> {
        k[k.find('{').expect("tag")..]
            .split('}')
            .next()
            .map(str::to_owned)
    }

    #[test]
    fn leases_and_counts_are_beside_the_tracked_prefix_in_the_values_slot() {
        let long = "x".repeat(10_000);
        for prefix in ["rc", "app:v2", "a:lease"] {
            // The prefix the local tier tracks (`backend/tracking.rs`).
            let tracked = format!("{prefix}:{{");
            for args in [render(&[&1]), render(&[&"}{"]), render(&[&long])] {
                let key = Key::new(prefix, "f", args.expect("renders"));
                assert!(key.value().starts_with(&tracked), "{}", key.value());
                for other in [key.lease(), key.invalidations()] {
                    assert!(!other.starts_with(&tracked), "{other} is tracked");
                    assert_eq!(tag(&other), tag(key.value()), "{other} shares the slot");
                    assert_ne!(other, key.value());
                }
                assert_ne!(key.lease(), key.invalidations());
            }
        }
        // A prefix ending in `:lease` keeps its values apart from the leases of the shorter
        // prefix, and is not told of them.
        let short = Key::new("a", "f", render(&[&1]).expect("renders"));
        let long = Key::new("a:lease", "f", render(&[&1]).expect("renders"));
        assert_ne!(short.lease(), long.value());
        assert!(!short.lease().starts_with("a:lease:{"));
    }

    #[test]
    fn no_arguments_and_strings_versus_numbers_differ() {
        assert_eq!(
            Key::new("rc", "f", render(&[]).expect("renders")).value(),
            "rc:{f()}"
        );
        let one = Key::new("rc", "f", render(&[&1]).expect("renders"));
        let one_str = Key::new("rc", "f", render(&[&"1"]).expect("renders"));
        assert_ne!(one, one_str);
    }

    #[test]
    fn separators_inside_strings_do_not_collide() {
        let a = render(&[&"a,b", &"c"]).expect("renders");
        let b = render(&[&"a", &"b,c"]).expect("renders");
        assert_ne!(a, b);
    }

    #[test]
    fn long_arguments_are_hashed_and_bounded() {
        let long = "x".repeat(10_000);
        let key = Key::new("rc", "f", render(&[&long]).expect("renders"));
        assert!(key.value().len() < 64, "{}", key.value());
        assert!(key.value().starts_with("rc:{f#"));
        let other = Key::new("rc", "f", render(&[&format!("{long}y")]).expect("renders"));
        assert_ne!(key, other);
    }

    #[test]
    fn braces_in_arguments_keep_one_slot_prefix() {
        let key = Key::new("rc", "f", render(&[&"}{"]).expect("renders"));
        // The hash tag is shared by all four keys.
        assert_eq!(tag(key.value()), tag(&key.lease()));
        assert_eq!(tag(key.value()), tag(&key.invalidations()));
        assert_eq!(tag(key.value()), tag(&key.channel()));
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        assert!(check_prefix("app").is_ok());
        assert!(check_prefix("a{b").is_err());
        assert!(check_prefix("").is_err());
    }
}
