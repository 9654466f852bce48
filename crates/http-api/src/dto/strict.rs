//! JSON read strictly: an object that names one key twice is refused.
//!
//! serde_json reads duplicate keys into a `Value` silently (the last one wins), so two
//! readers of the same body (a proxy that checks it, and this server) could see two different
//! requests. Derived structs refuse duplicate fields; the API reads requests into a `Value` to
//! name each field in its errors, so it refuses duplicates here, at any depth.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON document with no duplicate key in any object.
pub(crate) struct StrictJson(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictJson::deserialize(deserializer).map(|StrictJson(value)| value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1_024));
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A batch's JSON body: when it is an array, each item with its first duplicate key (the
/// path to it, `headers.X-A`, `retry.maxAttempts`) noted rather than refused, so that every
/// bad item can be listed by its index; `None` when the body is not an array.
pub(crate) struct StrictItems(pub(crate) Option<Vec<Result<Value, DuplicateKey>>>);

/// Where an item names a key twice: the path of the key, from the item's top.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DuplicateKey(pub(crate) String);

impl<'de> Deserialize<'de> for StrictItems {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor).map(StrictItems)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Option<Vec<Result<Value, DuplicateKey>>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1_024));
        while let Some(Noted { value, duplicate }) = seq.next_element()? {
            items.push(match duplicate {
                Some(path) => Err(DuplicateKey(path)),
                None => Ok(value),
            });
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One item of a batch (a line of NDJSON): its value, or where it names a key twice.
pub(crate) struct StrictItem(pub(crate) Result<Value, DuplicateKey>);

impl<'de> Deserialize<'de> for StrictItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Noted { value, duplicate } = Noted::deserialize(deserializer)?;
        Ok(StrictItem(match duplicate {
            Some(path) => Err(DuplicateKey(path)),
            None => Ok(value),
        }))
    }
}

/// A value with the path of its first duplicate key, if it has one.
struct Noted {
    value: Value,
    duplicate: Option<String>,
}

impl Noted {
    fn clean(value: Value) -> Noted {
        Noted {
            value,
            duplicate: None,
        }
    }
}

impl<'de> Deserialize<'de> for Noted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NotedVisitor)
    }
}

struct NotedVisitor;

impl<'de> Visitor<'de> for NotedVisitor {
    type Value = Noted;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Noted, E> {
        Ok(Noted::clean(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Noted, E> {
        Ok(Noted::clean(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Noted, E> {
        Ok(Noted::clean(Value::from(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Noted, E> {
        Ok(Noted::clean(
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, value: &str) -> Result<Noted, E> {
        Ok(Noted::clean(Value::String(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Noted, E> {
        Ok(Noted::clean(Value::String(value)))
    }

    fn visit_unit<E>(self) -> Result<Noted, E> {
        Ok(Noted::clean(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Noted, E> {
        Ok(Noted::clean(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Noted, D::Error> {
        Noted::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Noted, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1_024));
        let mut duplicate = None;
        while let Some(Noted {
            value,
            duplicate: inner,
        }) = seq.next_element()?
        {
            if duplicate.is_none()
                && let Some(path) = inner
            {
                duplicate = Some(format!("[{}]{}", items.len(), joined(&path)));
            }
            items.push(value);
        }
        Ok(Noted {
            value: Value::Array(items),
            duplicate,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Noted, A::Error> {
        let mut object = Map::new();
        let mut duplicate = None;
        while let Some(key) = map.next_key::<String>()? {
            let Noted {
                value,
                duplicate: inner,
            } = map.next_value()?;
            if duplicate.is_none() {
                if object.contains_key(&key) {
                    duplicate = Some(key.clone());
                } else if let Some(path) = inner {
                    duplicate = Some(format!("{key}{}", joined(&path)));
                }
            }
            object.entry(key).or_insert(value);
        }
        Ok(Noted {
            value: Value::Object(object),
            duplicate,
        })
    }
}

/// A path below a key: `.name` for a key, `[i]` as it is for an index.
fn joined(path: &str) -> String {
    if path.starts_with('[') {
        path.to_owned()
    } else {
        format!(".{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_note_their_first_duplicate_key_by_path() {
        let check = |text: &str, expected: &[Result<Value, &str>]| {
            let StrictItems(items) = serde_json::from_str(text).expect(text);
            let expected: Vec<Result<Value, DuplicateKey>> = expected
                .iter()
                .map(|item| item.clone().map_err(|path| DuplicateKey(path.to_owned())))
                .collect();
            assert_eq!(items, Some(expected), "{text}");
        };
        check(
            r#"[{"a":1},{"a":1,"a":2},{"h":{"X":"1","X":"2"}},{"l":[{"k":1,"k":1}]},3]"#,
            &[
                Ok(serde_json::json!({"a": 1})),
                Err("a"),
                Err("h.X"),
                Err("l[0].k"),
                Ok(serde_json::json!(3)),
            ],
        );
        for not_an_array in [r#"{"a":1,"a":2}"#, "1", "\"x\"", "null", "true"] {
            let StrictItems(items) = serde_json::from_str(not_an_array).expect(not_an_array);
            assert!(items.is_none(), "{not_an_array}");
        }
        assert!(serde_json::from_str::<StrictItems>("[{").is_err());
    }
}
