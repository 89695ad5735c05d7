//! Field names matched as runc matches them. runc reads config.json, `exec --process` and
//! `update -r` with Go's encoding/json, which takes an object's key for a struct's field
//! when it names the field exactly or, failing that, in another case: `"CPU"` is `cpu`,
//! `"pagesize"` is `pageSize`. Tests and hand-written configs rely on it (runc's own
//! update.bats writes `"CPU": {"Cpus": "1"}`). serde matches exactly and skips keys it
//! doesn't know, so such a setting was silently dropped.
//!
//! [`GoFieldNames`] wraps a deserializer: wherever a struct is read, at any depth, a key
//! that names none of its fields exactly but one of them apart from ASCII case is read as
//! that field. Keys of maps (annotations, sysctls, `unified`) are data and stay as they
//! are. It is the one reader of these documents, so the spec's deserializers exist once in
//! the binary; a key costs one more comparison with the struct's field names. Two keys for
//! one field (`"cpu"` and `"CPU"`), which Go reads in turn into the field and serde refuses,
//! are merged first ([`merge_keys_of_one_field`], used by `config::deserialize_as_go`).

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A deserializer that reads struct fields as Go does (module docs).
pub struct GoFieldNames<D>(pub D);

/// The field a key stands for: itself when it names a field exactly (or names none),
/// else the field it names in another case.
fn field_named(key: &str, fields: &'static [&'static str]) -> Option<&'static str> {
    if fields.contains(&key) {
        return None;
    }
    fields.iter().copied().find(|f| f.eq_ignore_ascii_case(key))
}

macro_rules! wrap_visitor {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Nested::of(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for GoFieldNames<D> {
    type Error = D::Error;

    wrap_visitor!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier
    );

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_ignored_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Nested::of(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Nested::of(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Nested::of(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_tuple_struct(name, len, Nested::of(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, Nested { visitor, fields })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Nested::of(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor that hands on everything it is given wrapped, so that structs below are read
/// as Go reads them too; `fields` are the struct's when it visits one, and name its keys.
struct Nested<V> {
    visitor: V,
    fields: &'static [&'static str],
}

impl<V> Nested<V> {
    fn of(visitor: V) -> Self {
        Nested {
            visitor,
            fields: &[],
        }
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.visitor.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>)
    );

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(GoFieldNames(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_newtype_struct(GoFieldNames(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_seq(Elements(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_map(Entries {
            map,
            fields: self.fields,
        })
    }

    // The spec's enums are strings: no struct inside a variant to reach.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_enum(data)
    }
}

/// A sequence whose elements are read wrapped.
struct Elements<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Elements<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Wrapped(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An object's entries: values read wrapped; keys named as fields when it is a struct's.
struct Entries<A> {
    map: A,
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.fields.is_empty() {
            return self.map.next_key_seed(seed);
        }
        self.map.next_key_seed(FieldKey {
            seed,
            fields: self.fields,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(Wrapped(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A value read through [`GoFieldNames`].
struct Wrapped<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrapped<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(GoFieldNames(d))
    }
}

/// A struct's key, read as the field it names.
struct FieldKey<K> {
    seed: K,
    fields: &'static [&'static str],
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for FieldKey<K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyReader {
            key: d,
            fields: self.fields,
        })
    }
}

/// The deserializer of a struct's key: whatever the field's reader asks, the key's string
/// reaches it as [`field_named`] names it.
struct KeyReader<D> {
    key: D,
    fields: &'static [&'static str],
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyReader<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let fields = self.fields;
        self.key.deserialize_any(KeyVisitor { visitor, fields })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let fields = self.fields;
        self.key
            .deserialize_identifier(KeyVisitor { visitor, fields })
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let fields = self.fields;
        self.key.deserialize_str(KeyVisitor { visitor, fields })
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let fields = self.fields;
        self.key.deserialize_string(KeyVisitor { visitor, fields })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum ignored_any
    }
}

struct KeyVisitor<V> {
    visitor: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<V::Value, E> {
        match field_named(key, self.fields) {
            Some(field) => self.visitor.visit_borrowed_str(field),
            None => self.visitor.visit_str(key),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<V::Value, E> {
        match field_named(key, self.fields) {
            Some(field) => self.visitor.visit_borrowed_str(field),
            None => self.visitor.visit_borrowed_str(key),
        }
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<V::Value, E> {
        match field_named(&key, self.fields) {
            Some(field) => self.visitor.visit_borrowed_str(field),
            None => self.visitor.visit_string(key),
        }
    }

    forward_visit!(
        visit_u64(u64),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>)
    );
}

/// Merges, in the object the path `at` names (serde_path_to_error's words: `linux.resources`,
/// `mounts[2]`; the document's root where there is none), its keys that name `field` in any
/// case into one key named `field`, in their order, as Go's decoder reads them in turn into
/// one field. Whether there were keys to merge.
pub fn merge_keys_of_one_field(document: &mut Value, at: Option<&str>, field: &str) -> bool {
    let Some(Value::Object(object)) = value_at(document, at.unwrap_or_default()) else {
        return false;
    };
    let keys: Vec<String> = object
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(field))
        .cloned()
        .collect();
    if keys.len() < 2 {
        return false;
    }
    let mut merged = Value::Null;
    for key in keys {
        if let Some(value) = object.remove(&key) {
            overlay(&mut merged, value);
        }
    }
    object.insert(field.to_string(), merged);
    true
}

/// Go's decoding of a value into a field that already holds one: an object's keys over the
/// object's (recursively), anything else in its place.
fn overlay(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// The value a serde_path_to_error path names: keys matched as Go matches them (the path
/// has the fields' names, the document may spell them otherwise).
fn value_at<'v>(document: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut value = document;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indices) = segment.split_once('[').unwrap_or((segment, ""));
        if !key.is_empty() {
            let object = value.as_object_mut()?;
            let name = if object.contains_key(key) {
                key.to_string()
            } else {
                object.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone()
            };
            value = object.get_mut(&name)?;
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let index: usize = index.trim_end_matches(']').parse().ok()?;
            value = value.as_array_mut()?.get_mut(index)?;
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxResources, Spec};

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> T {
        let mut document = serde_json::Deserializer::from_str(json);
        T::deserialize(GoFieldNames(&mut document)).unwrap()
    }

    #[test]
    fn a_key_in_another_case_is_the_field_at_any_depth() {
        let r: LinuxResources = read(
            r#"{"CPU": {"Cpus": "1", "MEMS": "0"}, "Memory": {"LIMIT": 1048576},
                "hugepagelimits": [{"pagesize": "2MB", "Limit": 0}]}"#,
        );
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!(cpu.cpus().as_deref(), Some("1"));
        assert_eq!(cpu.mems().as_deref(), Some("0"));
        assert_eq!(r.memory().unwrap().limit(), Some(1048576));
        let limit = &r.hugepage_limits().as_ref().unwrap()[0];
        assert_eq!(limit.page_size(), "2MB");
    }

    #[test]
    fn map_keys_stay_as_they_are_and_exact_names_are_unchanged() {
        let spec: Spec = read(
            r#"{"ociVersion": "1.0.2", "Annotations": {"Root": "x", "root": "y"},
                "Linux": {"Sysctl": {"Net.IPv4.ip_forward": "1"}}}"#,
        );
        let annotations = spec.annotations().as_ref().unwrap();
        assert_eq!(annotations.get("Root").map(String::as_str), Some("x"));
        assert_eq!(annotations.get("root").map(String::as_str), Some("y"));
        let sysctl = spec.linux().as_ref().unwrap().sysctl().as_ref().unwrap();
        assert!(sysctl.contains_key("Net.IPv4.ip_forward"));
        assert_eq!(field_named("cpu", &["cpu", "memory"]), None);
        assert_eq!(field_named("unknown", &["cpu"]), None);
        assert_eq!(field_named("cPu", &["cpu"]), Some("cpu"));
    }

    #[test]
    fn two_keys_of_one_field_are_merged_as_go_reads_them_in_turn() {
        let mut doc = serde_json::json!({"Linux": {"resources": {
            "cpu": {"shares": 5, "cpus": "1", "Mems": "1"}, "CPU": {"Cpus": "0", "mems": "0"}}},
            "mounts": [{}, {"type": "bind", "TYPE": "tmpfs"}]});
        assert!(merge_keys_of_one_field(
            &mut doc,
            Some("linux.resources"),
            "cpu"
        ));
        assert_eq!(
            doc["Linux"]["resources"],
            serde_json::json!({"cpu": {"shares": 5, "cpus": "1", "Mems": "1", "Cpus": "0", "mems": "0"}})
        );
        // The keys within are merged by the next read's error, one struct at a time.
        assert!(merge_keys_of_one_field(
            &mut doc,
            Some("linux.resources.cpu"),
            "cpus"
        ));
        assert_eq!(doc["Linux"]["resources"]["cpu"]["cpus"], "0");
        assert!(merge_keys_of_one_field(&mut doc, Some("mounts[1]"), "type"));
        assert_eq!(doc["mounts"][1], serde_json::json!({"type": "tmpfs"}));
        assert!(!merge_keys_of_one_field(
            &mut doc,
            Some("mounts[1]"),
            "type"
        ));
        assert!(!merge_keys_of_one_field(&mut doc, Some("nowhere"), "type"));
    }
}
