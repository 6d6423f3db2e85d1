//! How a sale is paid: the buyer's wallet pays the club (or the eSIM
//! supplier) the price, and the club pays the platform its commission, in the
//! same atomic set of transfers. Shop checkouts, match tickets, eSIMs and their refunds all go
//! through [`charge`] and [`refund`], inside the caller's transaction.

use sqlx::AnyConnection;

use crate::domain::{ClubId, UserId};
use crate::wallet::error::ChargeError;
use crate::wallet::ledger::{self, AccountKind, Operation, PLATFORM, Posting};
use crate::wallet::money::Currency;

/// Who is paid for a line of a purchase.
#[derive(Debug, Clone, Copy)]
pub enum Payee<'a> {
    /// A club, less the platform's commission.
    Club {
        club_id: &'a ClubId,
        commission_bps: i64,
        /// How many equal items the line's amount pays for (seats of one
        /// category): the commission is taken on each, so refunding one item
        /// gives back exactly its share and refunding all gives back all of it.
        items: i64,
    },
    /// The eSIM supplier, in full.
    EsimSupplier(&'a str),
}

/// One payee's part of a purchase.
#[derive(Debug, Clone)]
pub struct ChargeLine<'a> {
    pub payee: Payee<'a>,
    /// What the fan pays for this line, in minor units.
    pub amount: i64,
    /// What it pays for: (`order`, id), (`event`, id), (`esim`, id).
    pub reference: (&'static str, String),
}

/// A purchase paid from a fan's wallet in one ledger operation.
#[derive(Debug, Clone)]
pub struct Charge<'a> {
    pub buyer: &'a UserId,
    pub currency: Currency,
    /// The ledger operation (`shop_checkout`, `ticket_purchase`, ...).
    pub operation: &'static str,
    /// The kind of the fan's transfers (`purchase`, `ticket`, `esim`).
    pub kind: &'static str,
    /// Binds the request's key to the operation: a retry can never post twice.
    pub idempotency_key: Option<&'a str>,
    pub lines: Vec<ChargeLine<'a>>,
    /// Kept on every transfer (the tickets a payment bought, say).
    pub metadata: Option<serde_json::Value>,
}

/// A posted charge or refund.
#[derive(Debug, Clone)]
pub struct Charged {
    pub operation_id: String,
    /// The fan's balance after it.
    pub balance: i64,
}

/// Takes the purchase from the fan's wallet (never below zero), in the
/// caller's transaction.
pub async fn charge(conn: &mut AnyConnection, c: Charge<'_>) -> Result<Charged, ChargeError> {
    post_lines(conn, c, false).await
}

/// The exact reverse of a [`charge`] with the same lines (the same split,
/// so the commission rate must be the one charged), or of some of a line's
/// items (one seat of several, `items: 1`): every cent goes back.
pub async fn refund(conn: &mut AnyConnection, c: Charge<'_>) -> Result<Charged, ChargeError> {
    post_lines(conn, c, true).await
}

async fn post_lines(
    conn: &mut AnyConnection,
    c: Charge<'_>,
    reverse: bool,
) -> Result<Charged, ChargeError> {
    // The buyer's account comes with the club postings; it is looked up on
    // its own only for a supplier line (one round trip less inside the
    // purchase's locks).
    let mut buyer: Option<String> = None;
    let mut postings = Vec::new();
    for line in &c.lines {
        let kind = if reverse { "refund" } else { c.kind };
        match line.payee {
            Payee::Club {
                club_id,
                commission_bps,
                items,
            } => {
                let sale = Sale {
                    buyer_user_id: c.buyer.as_str(),
                    club_id: club_id.as_str(),
                    amount: line.amount,
                    currency: c.currency,
                    commission_bps,
                    items,
                    reference: line.reference.clone(),
                };
                let lines = sale_postings(conn, &sale, kind).await?;
                if let Some(p) = lines.first() {
                    buyer.get_or_insert_with(|| p.debit.clone());
                }
                postings.extend(lines);
            }
            Payee::EsimSupplier(supplier) => {
                let from = match &buyer {
                    Some(b) => b.clone(),
                    None => {
                        let b = ledger::account_id(conn, AccountKind::User, c.buyer, c.currency)
                            .await?;
                        buyer = Some(b.clone());
                        b
                    }
                };
                let supplier =
                    ledger::account_id(conn, AccountKind::EsimSupplier, supplier, c.currency)
                        .await?;
                postings.push(Posting {
                    debit: from,
                    credit: supplier,
                    amount: line.amount,
                    currency: c.currency,
                    kind,
                    reference: Some(line.reference.clone()),
                    note: None,
                    metadata: None,
                });
            }
        }
    }
    for p in &mut postings {
        p.metadata = c.metadata.clone();
        if reverse {
            std::mem::swap(&mut p.debit, &mut p.credit);
            p.kind = "refund";
        }
    }
    let posted = ledger::post(
        conn,
        Operation {
            kind: c.operation,
            user_id: Some(c.buyer.as_str()),
            idempotency_key: c.idempotency_key,
        },
        postings,
    )
    .await
    .map_err(|e| ChargeError::from_ledger(e, c.currency))?;
    let balance = match buyer.as_ref().and_then(|b| posted.balances.get(b)) {
        Some(b) => *b,
        None => ledger::balance_of(conn, AccountKind::User, c.buyer, c.currency).await?,
    };
    Ok(Charged {
        operation_id: posted.operation_id,
        balance,
    })
}

/// The platform's share of `amount`, rounded down: rounding never takes a
/// cent from the club that the platform did not earn.
pub fn commission(amount: i64, commission_bps: i64) -> i64 {
    amount * commission_bps / 10_000
}

/// One club's part of a purchase.
#[derive(Debug, Clone)]
struct Sale<'a> {
    buyer_user_id: &'a str,
    club_id: &'a str,
    /// What the fan pays, in minor units.
    amount: i64,
    currency: Currency,
    commission_bps: i64,
    items: i64,
    /// What it pays for: (`order`, id), (`ticket`, id), ...
    reference: (&'static str, String),
}

/// Postings that pay `sale.amount` from the buyer to the club, and the
/// platform's commission from the club: the fan paid the price, all of it to
/// the club (one line in their history, at the price they were shown); the
/// club pays the platform (a line in the club's account, not the fan's).
async fn sale_postings(
    conn: &mut AnyConnection,
    sale: &Sale<'_>,
    kind: &'static str,
) -> Result<Vec<Posting>, sqlx::Error> {
    let (amount, currency, reference) = (sale.amount, sale.currency, sale.reference.clone());
    let buyer = ledger::account_id(conn, AccountKind::User, sale.buyer_user_id, currency).await?;
    let club = ledger::account_id(conn, AccountKind::ClubRevenue, sale.club_id, currency).await?;
    let fee = commission_on_items(amount, sale.items, sale.commission_bps);
    let mut postings = vec![Posting {
        debit: buyer,
        credit: club.clone(),
        amount,
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
            debit: club,
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

/// The commission on `items` equal items costing `amount` together: the
/// commission of one, times `items` (so one item's refund returns exactly its
/// share). An amount that does not split evenly is one item.
pub fn commission_on_items(amount: i64, items: i64, commission_bps: i64) -> i64 {
    if items > 1 && amount % items == 0 {
        items * commission(amount / items, commission_bps)
    } else {
        commission(amount, commission_bps)
    }
}

#[cfg(test)]
mod tests {
    use super::{commission, commission_on_items};
    use proptest::prelude::*;

    proptest! {
        /// Refunding each item of a purchase, one at a time, gives back
        /// exactly the commission the purchase took.
        #[test]
        fn item_refunds_add_up_to_the_purchase(price in 1i64..10_000_000, items in 1i64..=10, bps in 0i64..=5_000) {
            let taken = commission_on_items(price * items, items, bps);
            let returned: i64 = (0..items).map(|_| commission_on_items(price, 1, bps)).sum();
            prop_assert_eq!(taken, returned);
            prop_assert!(taken <= price * items);
        }
    }

    #[test]
    fn three_seats_at_45_05_take_three_single_commissions() {
        // One commission on 135.15 would take 13.51; each seat's is 4.50.
        assert_eq!(commission(13_515, 1000), 1351);
        assert_eq!(commission_on_items(13_515, 3, 1000), 1350);
        assert_eq!(commission_on_items(13_516, 3, 1000), 1351);
    }

    #[test]
    fn commission_rounds_down() {
        assert_eq!(commission(7999, 1000), 799);
        assert_eq!(commission(5, 1000), 0);
        assert_eq!(commission(10_000, 0), 0);
        assert_eq!(commission(10_000, 1000), 1000);
    }
}
