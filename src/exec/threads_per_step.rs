//! [`ThreadsPerStep`]: the CPU threads each step computes with, a number or `auto`. Part of
//! every key (the `threads_per_step` of its environment): a different count can change the
//! last bits of libtorch's reductions. `auto` picks each instance's count from the instance
//! alone, by [`auto_threads`], never from a timing or from the machine, so a spec keys the same
//! wherever it runs; the key holds the count picked.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compile::value::ValueKind;
use crate::plan::Instance;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadsPerStep {
    Fixed(NonZeroU32),
    Auto,
}

/// The most threads `auto` gives a step: an LLC's default four chains.
const AUTO_MAX: u32 = 4;

impl ThreadsPerStep {
    pub const ONE: ThreadsPerStep = ThreadsPerStep::Fixed(NonZeroU32::MIN);

    /// The threads one instance computes with.
    pub fn for_instance(self, instance: &Instance) -> u32 {
        match self {
            ThreadsPerStep::Fixed(n) => n.get(),
            ThreadsPerStep::Auto => auto_threads(instance),
        }
    }
}

/// `auto`'s count for an instance: the threads that pay on it, by what the worker does with
/// them. A transformer runs its members side by side, a member per thread (the worker's
/// `train::member_threads`), so an LLC on a transformer gets a thread per chain (at most
/// [`AUTO_MAX`]), and a transformer's training one (a lone member). Every other model's steps
/// get one: their products are too small for libtorch's own threads to pay (the toy models'
/// tensors are below the element count ATen splits over threads), and one thread per step
/// leaves the machine's other cores to `--jobs`.
pub fn auto_threads(instance: &Instance) -> u32 {
    let is_transformer = matches!(
        instance.params.get("model").map(|m| &m.kind),
        Some(ValueKind::Ctor { name: "transformer.model", .. })
    );
    if !is_transformer {
        return 1;
    }
    let chains = match instance.params.get("observable").map(|o| &o.kind) {
        Some(ValueKind::Ctor { name: "llc", args, .. }) => {
            match args.get("chains").map(|c| &c.kind) {
                Some(ValueKind::Int(chains)) => u32::try_from(*chains).unwrap_or(1),
                _ => 1,
            }
        }
        _ => 1,
    };
    chains.clamp(1, AUTO_MAX)
}

impl fmt::Display for ThreadsPerStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadsPerStep::Fixed(n) => write!(f, "{n}"),
            ThreadsPerStep::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for ThreadsPerStep {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "auto" {
            return Ok(ThreadsPerStep::Auto);
        }
        text.parse::<NonZeroU32>()
            .map(ThreadsPerStep::Fixed)
            .map_err(|_| format!("`{text}` is neither a number of threads (1 or more) nor `auto`"))
    }
}

/// A number in TOML and JSON, or the string `"auto"`.
impl Serialize for ThreadsPerStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ThreadsPerStep::Fixed(n) => serializer.serialize_u32(n.get()),
            ThreadsPerStep::Auto => serializer.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for ThreadsPerStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Count(u64),
            Word(String),
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Count(n) => n.to_string(),
            Written::Word(word) => word,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_read_as_a_number_or_auto_and_refuse_the_rest() {
        assert_eq!("auto".parse(), Ok(ThreadsPerStep::Auto));
        assert_eq!(" 3 ".parse::<ThreadsPerStep>().map(|t| t.to_string()), Ok("3".to_owned()));
        for bad in ["0", "-1", "two", ""] {
            assert!(bad.parse::<ThreadsPerStep>().is_err(), "{bad:?} was accepted");
        }
        let toml: std::collections::BTreeMap<String, ThreadsPerStep> =
            toml::from_str("a = 2\nb = \"auto\"").unwrap();
        assert_eq!(toml["a"], ThreadsPerStep::Fixed(NonZeroU32::new(2).unwrap()));
        assert_eq!(toml["b"], ThreadsPerStep::Auto);
        assert!(
            toml::from_str::<std::collections::BTreeMap<String, ThreadsPerStep>>("a = 0").is_err()
        );
        assert_eq!(serde_json::to_string(&ThreadsPerStep::Auto).unwrap(), "\"auto\"");
        assert_eq!(serde_json::to_string(&ThreadsPerStep::ONE).unwrap(), "1");
    }
}
