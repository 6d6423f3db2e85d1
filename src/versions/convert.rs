//! Value conversions older versions need: exact decimal strings to JSON
//! numbers, RFC 3339 times to milliseconds, and the amounts 1.0 clients
//! computed in floating point back to the decimals they stand for.

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

/// How far, in units in the last place, a client's double may sit from the
/// two-decimal amount it stands for: a JavaScript sum or product of a few
/// prices is off by one or two (3 * 79.99 is 239.96999999999997); a digit
/// someone typed is off by millions.
const FLOAT_NOISE_ULPS: f64 = 32.0;

/// The JSON number literal a 1.0 client sent as an amount, as the two-decimal
/// amount its double stands for, when it has more decimals than that only
/// because it was computed in binary floating point: `239.96999999999997` is
/// `239.97`, `1499.9999999999998` is `1500`. Anything else, including a number
/// with a third decimal someone meant (`12.345`), gives None and is read as
/// written (and refused).
pub fn amount_from_float(literal: &str) -> Option<String> {
    let (int, frac) = literal.split_once('.')?;
    if int.is_empty()
        || frac.len() <= 2
        || int.len() > 13
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let x: f64 = literal.parse().ok()?;
    let cents = (x * 100.0).round();
    if !(1.0..1e15).contains(&cents) {
        return None;
    }
    let cents = cents as i64;
    let decimal = format!("{}.{:02}", cents / 100, cents % 100);
    let y: f64 = decimal.parse().ok()?;
    let ulp = f64::from_bits(y.to_bits() + 1) - y;
    if (x - y).abs() > FLOAT_NOISE_ULPS * ulp {
        return None;
    }
    Some(
        decimal
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
    )
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

    #[test]
    fn float_noise_is_read_as_the_amount_it_stands_for() {
        let js = |x: f64| amount_from_float(&x.to_string());
        // JavaScript's answers, which Rust's shortest printing repeats.
        assert_eq!((79.99f64 * 3.0).to_string(), "239.96999999999997");
        assert_eq!(js(79.99 * 3.0).as_deref(), Some("239.97"));
        assert_eq!(js(0.1 + 0.2).as_deref(), Some("0.3"));
        assert_eq!(js(79.99 * 3.0 + 14.99).as_deref(), Some("254.96"));
        assert_eq!(js(24.99 * 7.0).as_deref(), Some("174.93"));
        assert_eq!(
            amount_from_float("1499.9999999999998").as_deref(),
            Some("1500")
        );
        // Meant, not computed: read as written.
        for meant in [
            "12.345",
            "10.004",
            "0.001",
            "0.004",
            "999999999.999",
            "1.005",
        ] {
            assert_eq!(amount_from_float(meant), None, "{meant}");
        }
        // Not this conversion's to judge.
        for other in [
            "79.99",
            "79.9",
            "25",
            "-0.30000000000000004",
            "1e3",
            "2.5e-1",
            "",
            ".123",
            "1.2.345",
        ] {
            assert_eq!(amount_from_float(other), None, "{other}");
        }
    }

    proptest! {
        /// A two-decimal amount a few float steps off (a computed sum), as
        /// JavaScript prints the double, is read as that amount; one with a
        /// third decimal someone typed is not.
        #[test]
        fn float_noise_rounds_and_typed_digits_do_not(minor in 1i64..100_000_000_000i64, steps in -8i64..=8, third in 1i64..10) {
            let text = crate::wallet::money::format_minor(minor, crate::wallet::money::Currency::Eur);
            let y: f64 = text.parse().unwrap_or(f64::NAN);
            let x = f64::from_bits((y.to_bits() as i64 + steps) as u64);
            let printed = x.to_string();
            let expected = text.trim_end_matches('0').trim_end_matches('.').to_string();
            if printed.split_once('.').is_some_and(|(_, f)| f.len() > 2) {
                prop_assert_eq!(amount_from_float(&printed), Some(expected));
            }
            let typed = format!("{text}{third}");
            prop_assert_eq!(amount_from_float(&typed), None);
        }

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
