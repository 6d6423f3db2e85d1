//! Ticketing's pure rules: no database, no clock of their own (the caller
//! passes `now`), so each is tested on its own.

use crate::db::rfc3339;
use crate::domain::Invalid;
use crate::tickets::error::TicketError;
use crate::tickets::model::TicketStatus;
use crate::tickets::signing::TicketClaims;
use crate::wallet::error::amount_invalid;
use crate::wallet::money::{AmountInput, Currency, format_minor};

/// When a match's tickets are on sale (milliseconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct SaleWindow {
    pub starts: i64,
    pub ends: i64,
    pub kickoff: i64,
}

impl SaleWindow {
    /// Sales run from `starts` until `ends` or kickoff, whichever is first.
    pub fn check(&self, now: i64) -> Result<(), TicketError> {
        if now < self.starts {
            return Err(TicketError::SaleNotOpen {
                opens_at: rfc3339(self.starts),
            });
        }
        if now >= self.ends || now >= self.kickoff {
            return Err(TicketError::SaleClosed);
        }
        Ok(())
    }
}

/// The price the fan saw, when they sent one, must be the price asked now:
/// a change between the page and the purchase is never charged silently.
pub fn price_guard(
    seen: Option<&AmountInput>,
    price: i64,
    currency: Currency,
) -> Result<(), TicketError> {
    let Some(seen) = seen else {
        return Ok(());
    };
    let sent = seen
        .parse(currency)
        .map_err(|e| amount_invalid("price", e))?;
    if sent != price {
        return Err(TicketError::PriceChanged {
            price: format_minor(price, currency),
            currency: currency.code(),
        });
    }
    Ok(())
}

/// One purchase may not ask for more than the per-fan limit.
pub fn quantity_within(quantity: i64, limit: i64) -> Result<(), Invalid> {
    if quantity > limit {
        return Err(Invalid::field(
            "quantity",
            "over_limit",
            format!("at most {limit} tickets per fan for this match"),
        ));
    }
    Ok(())
}

/// Refunds close `cutoff_hours` before kickoff.
pub fn refund_open(now: i64, kickoff: i64, cutoff_hours: i64) -> Result<(), TicketError> {
    let cutoff = kickoff - cutoff_hours * 3_600_000;
    if now >= cutoff {
        return Err(TicketError::RefundWindowClosed(format!(
            "refunds closed at {}",
            rfc3339(cutoff)
        )));
    }
    Ok(())
}

/// The stored facts a scan is judged on.
#[derive(Debug, Clone, Copy)]
pub struct TicketFacts<'a> {
    pub event_id: &'a str,
    pub category_id: &'a str,
    pub serial: i64,
    pub version: i64,
    pub status: TicketStatus,
}

/// The entry decision before any seat changes: does the signed token
/// describe this very ticket, and may the ticket still be scanned at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The token was signed for another ticket than the one stored under its
    /// id: the answer names no ticket.
    Forged,
    /// Refused with this scan status and reason (the answer names the ticket).
    Refused {
        status: &'static str,
        reason: &'static str,
    },
    /// On to the gate's conditional update (in or out).
    Scan,
}

pub fn admission(claims: &TicketClaims, t: &TicketFacts<'_>) -> Admission {
    if t.event_id != claims.event_id.to_string()
        || t.category_id != claims.category_id.to_string()
        || t.serial != i64::from(claims.serial)
    {
        return Admission::Forged;
    }
    if i64::from(claims.version) != t.version {
        return Admission::Refused {
            status: "revoked",
            reason: "this QR code was replaced (ticket transferred)",
        };
    }
    match t.status {
        TicketStatus::Refunded => Admission::Refused {
            status: "refunded",
            reason: "this ticket was refunded",
        },
        TicketStatus::Revoked => Admission::Refused {
            status: "revoked",
            reason: "this ticket was revoked",
        },
        TicketStatus::Valid | TicketStatus::Used => Admission::Scan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn claims(version: u32) -> TicketClaims {
        TicketClaims {
            ticket_id: Uuid::from_u128(1),
            event_id: Uuid::from_u128(2),
            category_id: Uuid::from_u128(3),
            serial: 7,
            version,
        }
    }

    #[test]
    fn a_scan_goes_ahead_only_for_the_current_version_of_a_live_ticket() {
        let (event, category) = (
            Uuid::from_u128(2).to_string(),
            Uuid::from_u128(3).to_string(),
        );
        let facts = |version, status| TicketFacts {
            event_id: &event,
            category_id: &category,
            serial: 7,
            version,
            status,
        };
        assert_eq!(
            admission(&claims(1), &facts(1, TicketStatus::Valid)),
            Admission::Scan
        );
        assert_eq!(
            admission(&claims(2), &facts(2, TicketStatus::Used)),
            Admission::Scan
        );
        assert!(matches!(
            admission(&claims(1), &facts(2, TicketStatus::Valid)),
            Admission::Refused {
                status: "revoked",
                ..
            }
        ));
        assert!(matches!(
            admission(&claims(1), &facts(1, TicketStatus::Refunded)),
            Admission::Refused {
                status: "refunded",
                ..
            }
        ));
        let other_seat = TicketFacts {
            serial: 8,
            ..facts(1, TicketStatus::Valid)
        };
        assert_eq!(admission(&claims(1), &other_seat), Admission::Forged);
        let other_match = TicketFacts {
            event_id: "another",
            ..facts(1, TicketStatus::Valid)
        };
        assert_eq!(admission(&claims(1), &other_match), Admission::Forged);
    }

    const H: i64 = 3_600_000;

    #[test]
    fn sales_run_from_start_to_end_or_kickoff() {
        let w = SaleWindow {
            starts: 10 * H,
            ends: 20 * H,
            kickoff: 15 * H,
        };
        assert!(matches!(
            w.check(9 * H),
            Err(TicketError::SaleNotOpen { .. })
        ));
        assert!(w.check(10 * H).is_ok());
        assert!(w.check(15 * H - 1).is_ok());
        assert!(matches!(w.check(15 * H), Err(TicketError::SaleClosed)));
        let early_end = SaleWindow { ends: 12 * H, ..w };
        assert!(matches!(
            early_end.check(12 * H),
            Err(TicketError::SaleClosed)
        ));
    }

    #[test]
    fn a_changed_price_is_refused_with_the_new_one() {
        let seen = AmountInput::from_text("45.00");
        assert!(price_guard(Some(&seen), 4500, Currency::Eur).is_ok());
        assert!(price_guard(None, 9900, Currency::Eur).is_ok());
        match price_guard(Some(&seen), 5000, Currency::Eur) {
            Err(TicketError::PriceChanged { price, currency }) => {
                assert_eq!((price.as_str(), currency), ("50.00", "EUR"));
            }
            other => panic!("{other:?}"),
        }
        let bad = AmountInput::from_text("45.001");
        assert!(matches!(
            price_guard(Some(&bad), 4500, Currency::Eur),
            Err(TicketError::Invalid(_))
        ));
    }

    #[test]
    fn quantity_is_bounded_by_the_per_fan_limit() {
        assert!(quantity_within(4, 4).is_ok());
        assert!(quantity_within(5, 4).is_err());
    }

    #[test]
    fn refunds_close_before_kickoff() {
        assert!(refund_open(100 * H - 48 * H - 1, 100 * H, 48).is_ok());
        assert!(matches!(
            refund_open(100 * H - 48 * H, 100 * H, 48),
            Err(TicketError::RefundWindowClosed(_))
        ));
    }
}
