//! How a sale is paid: the buyer's wallet pays the club its share and the
//! platform its commission, in the same atomic set of transfers. Shop
//! checkouts, match tickets and refunds all build their postings here.

use sqlx::AnyConnection;

use crate::wallet::ledger::{self, AccountKind, PLATFORM, Posting};
use crate::wallet::money::Currency;

/// The platform's share of `amount`, rounded down: rounding never takes a
/// cent from the club that the platform did not earn.
pub fn commission(amount: i64, commission_bps: i64) -> i64 {
    amount * commission_bps / 10_000
}

/// One club's part of a purchase.
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    pub buyer_user_id: &'a str,
    pub club_id: &'a str,
    /// What the fan pays, in minor units.
    pub amount: i64,
    pub currency: Currency,
    pub commission_bps: i64,
    /// What it pays for: (`order`, id), (`ticket`, id), ...
    pub reference: (&'static str, String),
}

/// Postings that pay `sale.amount` from the buyer to the club (minus the
/// commission, which goes to the platform's fee account).
pub async fn sale_postings(
    conn: &mut AnyConnection,
    sale: &Sale<'_>,
    kind: &'static str,
) -> Result<Vec<Posting>, sqlx::Error> {
    let (amount, currency, reference) = (sale.amount, sale.currency, sale.reference.clone());
    let buyer = ledger::account_id(conn, AccountKind::User, sale.buyer_user_id, currency).await?;
    let club = ledger::account_id(conn, AccountKind::ClubRevenue, sale.club_id, currency).await?;
    let fee = commission(amount, sale.commission_bps);
    let mut postings = vec![Posting {
        debit: buyer.clone(),
        credit: club,
        amount: amount - fee,
        currency,
        kind,
        reference: Some(reference.clone()),
        note: None,
        metadata: None,
    }];
    if fee > 0 {
        let platform =
            ledger::account_id(conn, AccountKind::PlatformFees, PLATFORM, currency).await?;
        postings.push(Posting {
            debit: buyer,
            credit: platform,
            amount: fee,
            currency,
            kind: "commission",
            reference: Some(reference),
            note: None,
            metadata: None,
        });
    }
    postings.retain(|p| p.amount > 0);
    Ok(postings)
}

/// The exact reverse of [`sale_postings`] for the same sale (the same split,
/// so the commission rate must be the one charged), returning every cent the
/// fan paid.
pub async fn refund_postings(
    conn: &mut AnyConnection,
    sale: &Sale<'_>,
) -> Result<Vec<Posting>, sqlx::Error> {
    let postings = sale_postings(conn, sale, "refund").await?;
    Ok(postings
        .into_iter()
        .map(|p| Posting {
            debit: p.credit,
            credit: p.debit,
            kind: "refund",
            ..p
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::commission;

    #[test]
    fn commission_rounds_down() {
        assert_eq!(commission(7999, 1000), 799);
        assert_eq!(commission(5, 1000), 0);
        assert_eq!(commission(10_000, 0), 0);
        assert_eq!(commission(10_000, 1000), 1000);
    }
}
