//! Ticketing's pure rules: no database, no clock of their own (the caller
//! passes `now`), so each is tested on its own.

use crate::db::rfc3339;
use crate::domain::Invalid;
use crate::tickets::error::TicketError;
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

#[cfg(test)]
mod tests {
    use super::*;

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
