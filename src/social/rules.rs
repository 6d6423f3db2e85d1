//! Pure rules of chat and feed: no database, no clock.

/// The key that makes a direct conversation between two fans unique,
/// whichever of them asks first.
pub fn direct_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}|{b}")
    } else {
        format!("{b}|{a}")
    }
}

/// The other fan of a direct conversation.
pub fn direct_other<'a>(key: &'a str, me: &str) -> Option<&'a str> {
    let (a, b) = key.split_once('|')?;
    if a == me {
        Some(b)
    } else if b == me {
        Some(a)
    } else {
        None
    }
}

/// A keyset cursor `<position>_<id>`, as lists of this API spell them.
pub fn cursor(position: i64, id: &str) -> String {
    format!("{position}_{id}")
}

pub use crate::http::validate::parse_cursor;

/// The optional `cursor` parameter of a keyset list, or why it is refused.
pub fn after(cursor: Option<&str>) -> Result<Option<(i64, &str)>, crate::domain::Invalid> {
    cursor
        .map(|c| {
            parse_cursor(c).ok_or_else(|| {
                crate::domain::Invalid::field(
                    "cursor",
                    "invalid_format",
                    "is not a cursor this API returned",
                )
            })
        })
        .transpose()
}

/// Initials on a colour chosen from the id: every author has a recognisable
/// picture without uploads or an outside service.
pub fn avatar_svg(id: &str, name: &str) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    let initials: String = initials
        .chars()
        .map(|c| match c {
            '<' | '>' | '&' | '"' | '\'' => '?',
            c => c,
        })
        .collect();
    const COLOURS: [&str; 8] = [
        "#c8102e", "#1d428a", "#00843d", "#f2a900", "#6f2da8", "#e35205", "#007a87", "#53565a",
    ];
    let hash = id.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let colour = COLOURS[(hash % COLOURS.len() as u32) as usize];
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\" viewBox=\"0 0 64 64\">\
<circle cx=\"32\" cy=\"32\" r=\"32\" fill=\"{colour}\"/>\
<text x=\"32\" y=\"40\" font-family=\"sans-serif\" font-size=\"24\" fill=\"#fff\" text-anchor=\"middle\">{initials}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_pair_has_one_key_whoever_asks() {
        assert_eq!(direct_key("b", "a"), direct_key("a", "b"));
        assert_eq!(direct_other(&direct_key("a", "b"), "a"), Some("b"));
        assert_eq!(direct_other(&direct_key("a", "b"), "b"), Some("a"));
        assert_eq!(direct_other(&direct_key("a", "b"), "c"), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        let id = "01a2386a-ff3d-776f-9694-4484aebb6fd7";
        let c = cursor(42, id);
        assert_eq!(parse_cursor(&c), Some((42, id)));
        assert_eq!(parse_cursor("nope"), None);
        assert_eq!(parse_cursor("x_1"), None);
    }

    #[test]
    fn avatars_show_initials_and_cannot_carry_markup() {
        let svg = avatar_svg("u1", "Zoé martin");
        assert!(svg.contains(">ZM</text>"));
        let svg = avatar_svg("u1", "<script> x");
        assert!(!svg.contains("<script"));
    }
}
