//! Value conversions older versions need: exact decimal strings to JSON
//! numbers, RFC 3339 times to milliseconds.

use serde_json::{Number, Value};

/// A decimal amount (`"79.99"`, `"-5.00"`, `"1500"`) as a JSON number written
/// with the same digits: whole amounts as integers, others as the shortest
/// double that prints back to the same decimal (exact for any amount a
/// currency can hold, up to 15 significant digits). Anything else is left
/// as it was.
pub fn money_number(text: &str) -> Option<Value> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = int.strip_prefix('-').unwrap_or(int);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || digits.len() + frac.len() > 15
    {
        return None;
    }
    if frac.bytes().all(|b| b == b'0') {
        return int.parse::<i64>().ok().map(|n| Value::Number(n.into()));
    }
    t.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// An RFC 3339 time as milliseconds since the epoch.
pub fn ms(text: &str) -> Option<Value> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).ok().map(|n| Value::Number(n.into()))
}

/// Replaces a string member holding an amount by its number.
pub fn amount_field(obj: &mut Value, key: &str) {
    if let Some(n) = obj.get(key).and_then(Value::as_str).and_then(money_number) {
        obj[key] = n;
    }
}

/// Replaces a string member holding a time by its milliseconds.
pub fn time_field(obj: &mut Value, key: &str) {
    if let Some(n) = obj.get(key).and_then(Value::as_str).and_then(ms) {
        obj[key] = n;
    }
}

/// Copies a time member to another name, in milliseconds (null stays null).
pub fn time_as(obj: &mut Value, from: &str, to: &str) {
    let v = obj
        .get(from)
        .and_then(Value::as_str)
        .and_then(ms)
        .unwrap_or(Value::Null);
    obj[to] = v;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn amounts_keep_their_digits() {
        assert_eq!(
            serde_json::to_string(&money_number("79.99")).ok(),
            Some("79.99".into())
        );
        assert_eq!(money_number("500.00"), Some(json!(500)));
        assert_eq!(money_number("-5.00"), Some(json!(-5)));
        assert_eq!(money_number("1500"), Some(json!(1500)));
        assert_eq!(
            serde_json::to_string(&money_number("-0.10")).ok(),
            Some("-0.1".into())
        );
        assert_eq!(money_number("abc"), None);
        assert_eq!(money_number("1e5"), None);
        assert_eq!(money_number(""), None);
    }

    #[test]
    fn times_become_milliseconds() {
        assert_eq!(
            ms("2026-12-12T20:45:00Z"),
            Some(json!(1_797_108_300_000i64))
        );
        assert_eq!(
            ms("2026-12-02T20:21:27.89Z"),
            Some(json!(1_796_242_887_890i64))
        );
        assert_eq!(ms("yesterday"), None);
    }

    proptest! {
        /// Any amount in minor units with two decimals, written as the API
        /// writes it, reads back as the same number of cents.
        #[test]
        fn two_decimal_amounts_round_trip(minor in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let text = crate::wallet::money::format_minor(minor, crate::wallet::money::Currency::Eur);
            let n = money_number(&text).and_then(|v| v.as_f64());
            prop_assert!(n.is_some());
            let back = (n.unwrap_or(f64::NAN) * 100.0).round() as i64;
            prop_assert_eq!(back, minor);
            let printed = serde_json::to_string(&money_number(&text)).unwrap_or_default();
            let trimmed = text.trim_end_matches('0').trim_end_matches('.');
            prop_assert_eq!(printed, trimmed.to_string());
        }
    }
}
