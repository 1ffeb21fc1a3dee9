//! The registry's `OneOf` values that are a number or a bare word (`samples = 100` or
//! `fresh`, `nbeta = auto`, `dataset` or a number): one enum each, written on the wire as the
//! planner writes them (the number itself, or the word as a string), so a word the registry
//! does not list is refused by name instead of being read as some other value.

/// Declares `$name` with a `$number($ty)` variant and one unit variant per word, with its
/// serde implementations.
macro_rules! number_or_word {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $number:ident($ty:ty),
            $($(#[$word_meta:meta])* $word:literal => $variant:ident,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum $name {
            $number($ty),
            $($(#[$word_meta])* $variant,)+
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $name::$number(value) => serde::Serialize::serialize(value, serializer),
                    $($name::$variant => serializer.serialize_str($word),)+
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Number($ty),
                    Word(String),
                }
                let expected = concat!("a number or one of: ", $("`", $word, "` "),+);
                match Raw::deserialize(deserializer).map_err(|_| {
                    <D::Error as serde::de::Error>::custom(format!("expected {expected}"))
                })? {
                    Raw::Number(value) => Ok($name::$number(value)),
                    $(Raw::Word(word) if word == $word => Ok($name::$variant),)+
                    Raw::Word(word) => Err(<D::Error as serde::de::Error>::custom(format!(
                        "unknown value `{word}`, expected {expected}"
                    ))),
                }
            }
        }
    };
}

pub(crate) use number_or_word;
