//! Checkout that never oversells, orders, cancellation with refund, and
//! the club's order workflow.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Forbidden};
use crate::replay::Replay;
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::error::Shortage;
use crate::shop::model::*;
use crate::shop::store::*;
use crate::wallet::error::amount_invalid;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Payee};

impl Shop {
    /// One transaction: stock, money, order and cart move together or not at all.
    pub async fn checkout(
        &self,
        user_id: &str,
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
            let taken = sqlx::query(
                "UPDATE product_variants SET stock = stock - $2 WHERE id = $1 AND stock >= $2",
            )
            .bind(&l.item.variant_id)
            .bind(l.item.quantity)
            .execute(tx.conn())
            .await?
            .rows_affected();
            if taken == 0 {
                let left: i64 = sqlx::query("SELECT stock FROM product_variants WHERE id = $1")
                    .bind(&l.item.variant_id)
                    .fetch_one(tx.conn())
                    .await?
                    .try_get("stock")?;
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
        let mut per_club: BTreeMap<&str, i64> = BTreeMap::new();
        for l in &lines {
            *per_club.entry(&l.item.club_id).or_default() += l.price * l.item.quantity;
        }
        let charged = sales::charge(
            tx.conn(),
            Charge {
                buyer: user_id,
                currency,
                operation: "shop_checkout",
                kind: "purchase",
                idempotency_key: replay.key().map(|k| k.key.as_str()),
                lines: per_club
                    .iter()
                    .map(|(club, amount)| ChargeLine {
                        payee: Payee::Club {
                            club_id: club,
                            commission_bps: bps,
                        },
                        amount: *amount,
                        reference: ("order", order_id.clone()),
                    })
                    .collect(),
                metadata: None,
            },
        )
        .await?;
        sqlx::query(
        "INSERT INTO orders (id, user_id, status, total, currency, commission_bps, operation_id, created_at, updated_at)
         VALUES ($1, $2, 'paid', $3, $4, $5, $6, $7, $7)",
    )
    .bind(&order_id)
    .bind(user_id)
    .bind(total)
    .bind(currency.code())
    .bind(bps)
    .bind(&charged.operation_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
        for (i, l) in lines.iter().enumerate() {
            sqlx::query(
            "INSERT INTO order_lines (order_id, line_no, product_id, variant_id, club_id, name, size, unit_price, quantity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&order_id)
        .bind(i as i64 + 1)
        .bind(&l.item.product_id)
        .bind(&l.item.variant_id)
        .bind(&l.item.club_id)
        .bind(&l.item.name)
        .bind(l.item.size.as_deref())
        .bind(l.price)
        .bind(l.item.quantity)
        .execute(tx.conn())
        .await?;
        }
        sqlx::query("DELETE FROM cart_items WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
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
        let rows = sqlx::query(AssertSqlSafe(format!(
        "{ORDER_SQL} WHERE user_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(user_id)
    .bind(q.cursor.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(self.db.reader())
    .await?;
        let mut orders = orders_with_lines(&mut *self.db.reader().acquire().await?, rows).await?;
        let next_cursor = crate::http::validate::next_page(&mut orders, limit, |o| o.id.clone());
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
        user_id: &str,
        id: &str,
        replay: &Replay<CheckoutResponse>,
    ) -> Result<CheckoutResponse, ShopError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query(
        "UPDATE orders SET status = 'cancelled', updated_at = $3 WHERE id = $1 AND user_id = $2 AND status = 'paid'
         RETURNING currency, commission_bps",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
        let Some(row) = row else {
            drop(tx);
            return match load_order(&mut *self.db.reader().acquire().await?, id).await? {
                Some((o, owner)) if owner == user_id => {
                    Err(ShopError::NotCancellable(o.status.to_string()))
                }
                _ => Err(ShopError::NotFound("order")),
            };
        };
        let currency = Currency::stored(&row.try_get::<String, _>("currency")?)?;
        let bps: i64 = row.try_get("commission_bps")?;
        let lines = sqlx::query("SELECT variant_id, club_id, unit_price, quantity FROM order_lines WHERE order_id = $1 ORDER BY line_no")
        .bind(id)
        .fetch_all(tx.conn())
        .await?;
        let mut per_club: BTreeMap<String, i64> = BTreeMap::new();
        for l in &lines {
            let q: i64 = l.try_get("quantity")?;
            sqlx::query("UPDATE product_variants SET stock = stock + $2 WHERE id = $1")
                .bind(l.try_get::<String, _>("variant_id")?)
                .bind(q)
                .execute(tx.conn())
                .await?;
            *per_club.entry(l.try_get("club_id")?).or_default() +=
                l.try_get::<i64, _>("unit_price")? * q;
        }
        let refunded = sales::refund(
            tx.conn(),
            Charge {
                buyer: user_id,
                currency,
                operation: "order_refund",
                kind: "purchase",
                idempotency_key: replay.key().map(|k| k.key.as_str()),
                lines: per_club
                    .iter()
                    .map(|(club, amount)| ChargeLine {
                        payee: Payee::Club {
                            club_id: club,
                            commission_bps: bps,
                        },
                        amount: *amount,
                        reference: ("order", id.to_owned()),
                    })
                    .collect(),
                metadata: None,
            },
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
        let clubs: Vec<String> =
            sqlx::query("SELECT DISTINCT club_id FROM order_lines WHERE order_id = $1")
                .bind(id)
                .fetch_all(self.db.reader())
                .await?
                .iter()
                .map(|r| r.try_get("club_id"))
                .collect::<Result<_, _>>()?;
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
        let n = sqlx::query(
            "UPDATE orders SET status = $2, updated_at = $4 WHERE id = $1 AND status = $3",
        )
        .bind(id)
        .bind(status)
        .bind(from.as_str())
        .bind(now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        let (order, _) = load_order(&mut *self.db.reader().acquire().await?, id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        if n == 0 {
            return Err(ShopError::InvalidTransition {
                from: order.status.to_string(),
                to: status.to_owned(),
            });
        }
        Ok(order)
    }
}
