//! Kea's JSON text (`Element::toJSON` in `src/lib/cc/data.cc`): `{ "a": 1, "b": [ "x" ] }`,
//! `[  ]` and `{  }` for empty containers, map keys in byte order (Kea's `std::map`; a
//! `serde_json::Map` without `preserve_order` iterates the same way), strings escaped byte by
//! byte (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00XX` for bytes below 0x20 and from
//! 0x7f up, so non-ASCII UTF-8 comes out as one escape per byte, as Kea writes it).

use alloc::string::String;
use core::fmt::Write as _;

use serde_json::Value;

/// `value` in Kea's JSON style.
pub fn to_kea_string(value: &Value) -> String {
    let mut out = String::new();
    write_kea(value, &mut out);
    out
}

/// Appends `value` in Kea's JSON style to `out`.
pub fn write_kea(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // Integers as Kea prints int64; doubles as the captures show them (`0.0`).
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_kea_str(s, out),
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_kea(v, out);
            }
            out.push_str(" ]");
        }
        Value::Object(map) => {
            out.push_str("{ ");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // Kea writes keys unescaped; escaping changes nothing for the keys Kea uses
                // and keeps the output valid JSON for any key.
                write_kea_str(k, out);
                out.push_str(": ");
                write_kea(v, out);
            }
            out.push_str(" }");
        }
    }
}

/// Appends `s` as a JSON string escaped as Kea's `StringElement::toJSON` does.
pub fn write_kea_str(s: &str, out: &mut String) {
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b if !(0x20..0x7f).contains(&b) => {
                let _ = write!(out, "\\u{b:04x}");
            }
            b => out.push(char::from(b)),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kea_spacing() {
        let v = json!({"b": ["x"], "a": 1, "c": [], "d": {}, "e": [0.0, true, null]});
        assert_eq!(
            to_kea_string(&v),
            r#"{ "a": 1, "b": [ "x" ], "c": [  ], "d": {  }, "e": [ 0.0, true, null ] }"#
        );
        assert_eq!(
            to_kea_string(&json!("q\"\\\n\u{1}\u{7f}é")),
            r#""q\"\\\n\u0001\u007f\u00c3\u00a9""#
        );
    }
}
