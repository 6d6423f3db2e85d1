//! Checkout that never oversells, orders, cancellation with refund, and
//! the club's order workflow.

use std::collections::BTreeMap;

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, ClubId, Forbidden, UserId};
use crate::infra::readmodel::Topic;
use crate::replay::Replay;
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::error::Shortage;
use crate::shop::model::*;
use crate::shop::store::{self, NewOrder, cart_lines, load_order};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Payee};

impl Shop {
    /// One transaction: stock, money, order and cart move together or not at all.
    pub async fn checkout(
        &self,
        user_id: &UserId,
        guard: Option<&crate::wallet::money::AmountInput>,
        replay: &Replay<CheckoutResponse>,
    ) -> Result<CheckoutResponse, ShopError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let lines = cart_lines(tx.conn(), user_id).await?;
        if lines.is_empty() {
            return Err(ShopError::CartEmpty);
        }
        let currency = lines[0].currency;
        if lines.iter().any(|l| l.currency != currency) {
            return Err(ShopError::MixedCurrencies);
        }
        if let Some(l) = lines.iter().find(|l| !l.active) {
            return Err(ShopError::ProductUnavailable {
                name: l.item.name.clone(),
                item_id: l.item.id.clone(),
            });
        }
        let total: i64 = lines.iter().map(|l| l.price * l.item.quantity).sum();
        if let Some(g) = guard {
            let sent = g.parse(currency).map_err(|e| amount_invalid("total", e))?;
            if sent != total {
                return Err(ShopError::TotalChanged {
                    total: format_minor(total, currency),
                    currency: currency.code(),
                });
            }
        }
        // Each line's stock is taken by a conditional update: concurrent checkouts
        // can never sell more than there is.
        for l in &lines {
            if let Err(left) =
                store::take_stock(tx.conn(), &l.item.variant_id, l.item.quantity).await?
            {
                return Err(ShopError::OutOfStock {
                    message: format!("only {left} left of {}; nothing was charged", l.item.name),
                    shortage: Shortage {
                        item_id: Some(l.item.id.clone()),
                        variant_id: l.item.variant_id.clone(),
                        available: left,
                    },
                });
            }
        }
        let order_id = new_id();
        let bps = self.commission_bps;
        let mut per_club: BTreeMap<ClubId, i64> = BTreeMap::new();
        for l in &lines {
            *per_club
                .entry(ClubId::from(l.item.club_id.as_str()))
                .or_default() += l.price * l.item.quantity;
        }
        let key = replay.key().map(|k| k.key.as_str());
        let charged = sales::charge(
            tx.conn(),
            order_charge(
                user_id,
                currency,
                "shop_checkout",
                key,
                &per_club,
                bps,
                &order_id,
            ),
        )
        .await?;
        store::insert_order(
            tx.conn(),
            NewOrder {
                id: &order_id,
                user_id,
                total,
                currency: currency.code(),
                commission_bps: bps,
                operation_id: &charged.operation_id,
                now,
            },
            &lines,
        )
        .await?;
        store::empty_cart(tx.conn(), user_id).await?;
        let (order, _) = load_order(tx.conn(), &order_id)
            .await?
            .ok_or_else(|| ShopError::Internal("order vanished".into()))?;
        let resp = CheckoutResponse {
            order,
            new_balance: format_minor(charged.balance, currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        self.read.sold(Topic::Products);
        Ok(resp)
    }

    pub async fn my_orders(
        &self,
        user_id: &str,
        q: &crate::wallet::model::ListQuery,
    ) -> Result<OrderList, ShopError> {
        let limit = q.limit.unwrap_or(20);
        let offset = if q.cursor.is_some() {
            0
        } else {
            q.offset.unwrap_or(0)
        };
        let mut orders = store::orders_of(
            &mut *self.db.reader().acquire().await?,
            user_id,
            crate::http::validate::after_id(q.cursor.as_deref()),
            limit + 1,
            offset,
        )
        .await?;
        let next_cursor = crate::http::validate::next_page(&mut orders, limit, |o| {
            crate::http::validate::id_cursor(&o.id)
        });
        Ok(OrderList {
            orders,
            next_cursor,
        })
    }

    pub async fn order(&self, user: &Caller, id: &str) -> Result<Order, ShopError> {
        match load_order(&mut *self.db.reader().acquire().await?, id).await? {
            Some((o, owner)) if owner == user.id || user.is_admin() => Ok(o),
            _ => Err(ShopError::NotFound("order")),
        }
    }

    /// Cancels a paid order: the fan gets every cent back through the ledger
    /// (the split reversed at the commission rate charged) and the stock returns.
    pub async fn cancel(
        &self,
        user_id: &UserId,
        id: &str,
        replay: &Replay<CheckoutResponse>,
    ) -> Result<CheckoutResponse, ShopError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let Some((currency, bps)) = store::cancel_order(tx.conn(), user_id, id, now).await? else {
            drop(tx);
            return match load_order(&mut *self.db.reader().acquire().await?, id).await? {
                Some((o, owner)) if owner == *user_id => {
                    Err(ShopError::NotCancellable(o.status.to_string()))
                }
                _ => Err(ShopError::NotFound("order")),
            };
        };
        let currency = Currency::stored(&currency)?;
        let mut per_club: BTreeMap<ClubId, i64> = BTreeMap::new();
        for l in store::sold_lines(tx.conn(), id).await? {
            store::return_stock(tx.conn(), &l.variant_id, l.quantity).await?;
            *per_club.entry(ClubId::from(l.club_id)).or_default() += l.unit_price * l.quantity;
        }
        let key = replay.key().map(|k| k.key.as_str());
        let refunded = sales::refund(
            tx.conn(),
            order_charge(user_id, currency, "order_refund", key, &per_club, bps, id),
        )
        .await?;
        let (order, _) = load_order(tx.conn(), id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        let resp = CheckoutResponse {
            order,
            new_balance: format_minor(refunded.balance, currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        self.read.sold(Topic::Products);
        Ok(resp)
    }

    /// Staff of a club with lines in the order (or an admin) move it along:
    /// paid -> shipped -> delivered, each step a conditional update.
    pub async fn set_status(
        &self,
        user: &Caller,
        id: &str,
        status: &str,
    ) -> Result<Order, ShopError> {
        let clubs = store::order_clubs(self.db.reader(), id).await?;
        if clubs.is_empty() {
            return Err(ShopError::NotFound("order"));
        }
        if !clubs.iter().any(|c| user.require_staff_of(c).is_ok()) {
            return Err(Forbidden::new("only staff of a club in this order may change it").into());
        }
        // Each step from the one before it only.
        let from = match OrderStatus::parse(status) {
            Some(OrderStatus::Shipped) => OrderStatus::Paid,
            _ => OrderStatus::Shipped,
        };
        let mut tx = self.db.begin_write().await?;
        let moved = store::move_order(tx.conn(), id, from, status, now_ms()).await?;
        tx.commit().await?;
        let (order, _) = load_order(&mut *self.db.reader().acquire().await?, id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        if !moved {
            return Err(ShopError::InvalidTransition {
                from: order.status.to_string(),
                to: status.to_owned(),
            });
        }
        Ok(order)
    }
}

/// An order paid (or refunded) in one ledger operation: each club its share,
/// less the commission the order was charged at.
fn order_charge<'a>(
    buyer: &'a UserId,
    currency: Currency,
    operation: &'static str,
    idempotency_key: Option<&'a str>,
    per_club: &'a BTreeMap<ClubId, i64>,
    commission_bps: i64,
    order_id: &str,
) -> Charge<'a> {
    Charge {
        buyer,
        currency,
        operation,
        kind: "purchase",
        idempotency_key,
        lines: per_club
            .iter()
            .map(|(club, amount)| ChargeLine {
                payee: Payee::Club {
                    club_id: club,
                    commission_bps,
                    // An order is refunded whole, never a line at a time.
                    items: 1,
                },
                amount: *amount,
                reference: ("order", order_id.to_owned()),
            })
            .collect(),
        metadata: None,
    }
}
