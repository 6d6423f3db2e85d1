//! Field validation that collects every problem of a body into one 422.

use crate::error::{ApiError, FieldError};

pub trait Validate {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

impl Validate for serde_json::Value {}
impl Validate for () {}

/// Collects field errors; `finish()` turns them into one 422.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Length in characters (not bytes) within `min..=max`, and no control characters.
    /// Text with more than white space in it, at most `max` characters as
    /// sent (the limit the document states; the server stores it trimmed).
    pub fn non_blank_text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, "required", "must not be empty");
        } else {
            self.text(field, value, 1, max);
        }
    }

    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            if min == 1 {
                self.push(field, "required", "must not be empty");
            } else {
                self.push(
                    field,
                    "too_short",
                    format!("must be at least {min} characters"),
                );
            }
        } else if n > max {
            self.push(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            );
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.push(
                field,
                "invalid_characters",
                "must not contain control characters",
            );
        }
    }

    pub fn optional_text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            self.text(field, v, min, max);
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.push(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
        }
    }

    /// `limit` 1–100, `offset` 0–1,000,000, `cursor` one this API returned
    /// (see [`CURSOR_PATTERN`]).
    pub fn page(&mut self, limit: Option<i64>, offset: Option<i64>, cursor: Option<&str>) {
        if let Some(l) = limit {
            self.range("limit", l, 1, 100);
        }
        if let Some(o) = offset {
            self.range("offset", o, 0, 1_000_000);
        }
        if let Some(cur) = cursor
            && parse_cursor(cur).is_none()
        {
            self.push(
                "cursor",
                "invalid_format",
                "is not a cursor this API returned",
            );
        }
    }

    /// A fan named by `recipientId` or, failing that, `recipientEmail`.
    pub fn recipient(&mut self, id: Option<&str>, email: Option<&str>) {
        match (id, email) {
            (None, None) => self.push(
                "recipientId",
                "required",
                "give recipientId or recipientEmail",
            ),
            // Two ways to name someone, which could name two people: the
            // server would have to pick one without the client knowing which.
            (Some(_), Some(_)) => self.push(
                "recipientEmail",
                "conflict",
                "give recipientId or recipientEmail, not both",
            ),
            (Some(id), None) => self.text("recipientId", id, 1, 64),
            (None, Some(e)) => self.text("recipientEmail", e, 3, 254),
        }
    }

    pub fn add(&mut self, err: Option<FieldError>) {
        if let Some(e) = err {
            self.0.push(e);
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// Every list's cursor: `<position>_<id>`, the position (a number of at
/// most 18 digits) of the last row and its id (a UUID as this API writes
/// them). Lists ordered by id write position 0.
pub const CURSOR_PATTERN: &str =
    "^-?[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// A cursor of a list ordered by id.
pub fn id_cursor(id: &str) -> String {
    format!("0_{id}")
}

/// The id a list ordered by id continues after (`""`: from the start).
pub fn after_id(cursor: Option<&str>) -> &str {
    cursor.and_then(parse_cursor).map_or("", |(_, id)| id)
}

/// The position and id of a cursor ([`CURSOR_PATTERN`]), or None.
pub fn parse_cursor(c: &str) -> Option<(i64, &str)> {
    let (position, id) = c.split_once('_')?;
    let digits = position.strip_prefix('-').unwrap_or(position);
    let uuid_shape = id.len() == 36
        && id.char_indices().all(|(i, ch)| match i {
            8 | 13 | 18 | 23 => ch == '-',
            _ => ch.is_ascii_digit() || ('a'..='f').contains(&ch),
        });
    if (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && uuid_shape
    {
        Some((position.parse().ok()?, id))
    } else {
        None
    }
}

/// Cuts a page fetched with `limit + 1` rows back to `limit`, and returns the
/// cursor of the next page (the last id kept) when there is one.
pub fn next_page<T>(items: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(id)
    } else {
        None
    }
}

/// A normalised e-mail address: trimmed, lower-cased, one `@` with text on both
/// sides and a dot in the domain. Deliverability is not our business here.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = e.split_once('@')?;
    if local.is_empty()
        || local.len() > 64
        || domain.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return None;
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email("  Fan@Example.COM ").as_deref(),
            Some("fan@example.com")
        );
        for bad in [
            "", "x", "@a.b", "a@", "a@b", "a b@c.d", "a@b..c", "a@@b.c", "a@.b",
        ] {
            assert!(normalize_email(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        let mut c = Checks::new();
        c.text("name", "Zoé Ñúñez 日本", 1, 13);
        assert!(c.finish().is_ok());
        let mut c = Checks::new();
        c.text("name", "a\u{0}b", 1, 10);
        assert!(c.finish().is_err());
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn cursors_are_a_position_and_a_uuid() {
        let id = "01a2386a-ff3d-776f-9694-4484aebb6fd7";
        assert_eq!(parse_cursor(&id_cursor(id)), Some((0, id)));
        assert_eq!(parse_cursor(&format!("-5_{id}")), Some((-5, id)));
        for bad in [
            id.to_owned(),
            format!("_{id}"),
            format!("x_{id}"),
            format!("1234567890123456789_{id}"),
            format!("1_{}", id.to_uppercase()),
            format!("1_{id}x"),
            "1_".to_owned(),
            String::new(),
        ] {
            assert_eq!(parse_cursor(&bad), None, "{bad}");
        }
    }
}
