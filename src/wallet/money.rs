//! Money: integer minor units with an ISO 4217 currency. Never a float.
//!
//! On the wire an amount is a decimal string with exactly the currency's
//! digits (`"79.99"`, `"1500"` for XOF). Requests may send a string or a JSON
//! number; the number is read from its literal text, so `1e3`, `12.345` in EUR
//! or `0.1 + 0.2`-style float artefacts never become money. (For requests in
//! version 1.0, whose clients computed amounts in floating point, and which
//! is also what a request naming no version gets unless API_DEFAULT_VERSION
//! says otherwise, the version layer first rewrites such an artefact to the
//! cents it stands for: `exact_amounts` in `src/versions/v2026_12_01.rs`.)

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// Largest amount accepted in any request, in major units (absurd sizes are 422).
pub const MAX_MAJOR_UNITS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    Eur,
    Usd,
    Gbp,
    Mad,
    Xof,
    Xaf,
}

/// A currency code in the database that this server does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown currency {0:?} in the database")]
pub struct UnknownCurrency(pub String);

/// Inside a row mapping, an unknown currency is a row that does not decode.
impl From<UnknownCurrency> for sqlx::Error {
    fn from(e: UnknownCurrency) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

impl Currency {
    pub const ALL: [Currency; 6] = [
        Currency::Eur,
        Currency::Usd,
        Currency::Gbp,
        Currency::Mad,
        Currency::Xof,
        Currency::Xaf,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Mad => "MAD",
            Currency::Xof => "XOF",
            Currency::Xaf => "XAF",
        }
    }

    /// ISO 4217 minor unit digits.
    pub fn digits(self) -> u32 {
        match self {
            Currency::Xof | Currency::Xaf => 0,
            _ => 2,
        }
    }

    /// A currency read back from the database, where only codes this server
    /// wrote can be: any other is corruption, never silently EUR.
    pub fn stored(code: &str) -> Result<Currency, UnknownCurrency> {
        Currency::parse(code).ok_or_else(|| UnknownCurrency(code.to_owned()))
    }

    pub fn parse(code: &str) -> Option<Currency> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code.trim()))
    }

    fn scale(self) -> i64 {
        10i64.pow(self.digits())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "unsupported currency {s:?} (supported: EUR, USD, GBP, MAD, XOF, XAF)"
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal number such as \"12.50\"")]
    Format,
    #[error("exponent notation is not accepted")]
    Exponent,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("{currency} amounts have at most {digits} decimal digits")]
    TooManyDigits { currency: Currency, digits: u32 },
    #[error("is too large")]
    TooLarge,
}

/// Formats minor units with exactly the currency's digits.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    let digits = currency.digits();
    if digits == 0 {
        return minor.to_string();
    }
    let scale = currency.scale();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = digits as usize
    )
}

/// Parses a positive decimal amount into minor units.
pub fn parse_amount(text: &str, currency: Currency) -> Result<i64, AmountError> {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        return Err(AmountError::Exponent);
    }
    if let Some(rest) = t.strip_prefix('-') {
        return match parse_amount(rest, currency) {
            Ok(_) | Err(AmountError::NotPositive) => Err(AmountError::NotPositive),
            Err(e) => Err(e),
        };
    }
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Format);
    }
    let frac = frac.unwrap_or("");
    if t.contains('.') && frac.is_empty() {
        return Err(AmountError::Format);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Format);
    }
    let digits = currency.digits();
    if frac.len() > digits as usize {
        return Err(AmountError::TooManyDigits { currency, digits });
    }
    let int_trimmed = int.trim_start_matches('0');
    if int_trimmed.len() > 10 {
        return Err(AmountError::TooLarge);
    }
    let major: i64 = if int_trimmed.is_empty() {
        0
    } else {
        int_trimmed.parse().map_err(|_| AmountError::TooLarge)?
    };
    if major > MAX_MAJOR_UNITS {
        return Err(AmountError::TooLarge);
    }
    let mut frac_minor: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| AmountError::Format)?
    };
    for _ in frac.len()..digits as usize {
        frac_minor *= 10;
    }
    let minor = major * currency.scale() + frac_minor;
    if minor <= 0 {
        return Err(AmountError::NotPositive);
    }
    Ok(minor)
}

/// An amount as the client sent it (string or number literal), parsed once the
/// currency is known.
#[derive(Debug, Clone)]
pub struct AmountInput(String);

impl AmountInput {
    pub fn parse(&self, currency: Currency) -> Result<i64, AmountError> {
        parse_amount(&self.0, currency)
    }
    pub fn from_text(t: &str) -> Self {
        AmountInput(t.to_owned())
    }
}

impl<'de> Deserialize<'de> for AmountInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(d)?;
        let text = raw.get().trim();
        if text.starts_with('"') {
            let s: String = serde_json::from_str(text).map_err(de::Error::custom)?;
            if s.len() > 64 {
                return Err(de::Error::custom("amount is too long"));
            }
            Ok(AmountInput(s))
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            if text.len() > 64 {
                return Err(de::Error::custom("amount is too long"));
            }
            Ok(AmountInput(text.to_owned()))
        } else {
            Err(de::Error::custom(
                "amount must be a decimal string such as \"12.50\" or a number",
            ))
        }
    }
}

/// An amount with its currency, as responses show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }
    pub fn text(&self) -> String {
        format_minor(self.minor, self.currency)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats_per_currency() {
        assert_eq!(parse_amount("79.99", Currency::Eur), Ok(7999));
        assert_eq!(parse_amount("10", Currency::Eur), Ok(1000));
        assert_eq!(parse_amount("10.5", Currency::Eur), Ok(1050));
        assert_eq!(parse_amount("0.01", Currency::Eur), Ok(1));
        assert_eq!(parse_amount("1500", Currency::Xof), Ok(1500));
        assert_eq!(format_minor(7999, Currency::Eur), "79.99");
        assert_eq!(format_minor(5, Currency::Eur), "0.05");
        assert_eq!(format_minor(-105, Currency::Mad), "-1.05");
        assert_eq!(format_minor(1500, Currency::Xof), "1500");
    }

    #[test]
    fn rejects_what_is_not_money() {
        use AmountError::*;
        let eur = Currency::Eur;
        assert_eq!(
            parse_amount("12.345", eur),
            Err(TooManyDigits {
                currency: eur,
                digits: 2
            })
        );
        assert!(matches!(
            parse_amount("1.5", Currency::Xof),
            Err(TooManyDigits { .. })
        ));
        assert_eq!(parse_amount("1e3", eur), Err(Exponent));
        assert_eq!(parse_amount("1E3", eur), Err(Exponent));
        assert_eq!(parse_amount("0", eur), Err(NotPositive));
        assert_eq!(parse_amount("0.00", eur), Err(NotPositive));
        assert_eq!(parse_amount("-5", eur), Err(NotPositive));
        assert_eq!(parse_amount("-0", eur), Err(NotPositive));
        for bad in [
            "", "NaN", "nan", "Infinity", "abc", ".5", "5.", "+5", "1,50", "1.2.3", " ", "0x10",
            "١٢",
        ] {
            assert!(parse_amount(bad, eur).is_err(), "{bad:?}");
        }
        assert_eq!(parse_amount("99999999999999999999", eur), Err(TooLarge));
        assert_eq!(parse_amount("1000000001", eur), Err(TooLarge));
        assert_eq!(parse_amount("1000000000", eur), Ok(100_000_000_000));
    }

    #[test]
    fn json_numbers_are_read_from_their_text() {
        let parse = |j: &str| -> Result<i64, String> {
            let a: AmountInput = serde_json::from_str(j).map_err(|e| e.to_string())?;
            a.parse(Currency::Eur).map_err(|e| e.to_string())
        };
        assert_eq!(parse("79.99"), Ok(7999));
        assert_eq!(parse("\"79.99\""), Ok(7999));
        assert_eq!(parse("25"), Ok(2500));
        assert!(parse("1e3").is_err());
        assert!(parse("12.345").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("null").is_err());
        assert!(parse("true").is_err());
        assert!(parse("{}").is_err());
        assert!(parse("1e400").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 1i64..=MAX_MAJOR_UNITS, cur in 0usize..6) {
            let c = Currency::ALL[cur];
            prop_assert_eq!(parse_amount(&format_minor(minor, c), c), Ok(minor));
        }

        #[test]
        fn parse_never_panics_and_is_positive(s in "\\PC{0,24}") {
            if let Ok(v) = parse_amount(&s, Currency::Eur) {
                prop_assert!(v > 0);
            }
        }
    }
}
