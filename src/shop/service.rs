//! Shop rules: catalogue, carts, checkout that never oversells, orders.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::app::AppState;
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult, constraint_violation};
use crate::http::extract::AuthUser;
use crate::http::idempotency::{Answer, IdempotencyKey};
use crate::shop::model::*;
use crate::wallet::ledger::{self, AccountKind, Operation};
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Sale};
use crate::wallet::service::{amount_error, ledger_error};

fn currency_of(code: &str) -> Currency {
    Currency::parse(code).unwrap_or(Currency::Eur)
}

const PRODUCT_COLUMNS: &str = "p.id, p.club_id, p.name, p.category, p.description, p.image_url, p.price, p.currency, p.active";

async fn variants_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    ids: &[String],
) -> Result<BTreeMap<String, Vec<Variant>>, sqlx::Error> {
    let mut by_product: BTreeMap<String, Vec<Variant>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(by_product);
    }
    // Placeholders only: the ids are bound, never spliced into the SQL.
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, product_id, size, stock FROM product_variants WHERE product_id IN ({}) ORDER BY position, id",
        marks.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(conn).await? {
        by_product
            .entry(r.try_get("product_id")?)
            .or_default()
            .push(Variant {
                id: r.try_get("id")?,
                size: r.try_get("size")?,
                stock: r.try_get("stock")?,
            });
    }
    Ok(by_product)
}

fn product_from_row(r: &AnyRow, variants: Vec<Variant>) -> Result<Product, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
    Ok(Product {
        id: r.try_get("id")?,
        club_id: r.try_get("club_id")?,
        name: r.try_get("name")?,
        category: r.try_get("category")?,
        description: r.try_get("description")?,
        image_url: r.try_get("image_url")?,
        price: format_minor(r.try_get("price")?, cur),
        currency: cur.code().to_owned(),
        active: r.try_get::<i64, _>("active")? != 0,
        in_stock: variants.iter().any(|v| v.stock > 0),
        variants,
    })
}

pub async fn list_products(state: &AppState, q: &ProductQuery) -> ApiResult<ProductList> {
    let limit = q.limit.unwrap_or(20);
    let offset = if q.cursor.is_some() {
        0
    } else {
        q.offset.unwrap_or(0)
    };
    let category = q
        .category
        .as_deref()
        .filter(|c| !c.eq_ignore_ascii_case("all"))
        .unwrap_or("");
    let text = q.q.as_deref().map(str::trim).unwrap_or("");
    // LIKE wildcards typed by the fan are matched literally.
    let pattern = format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p
         WHERE p.active = 1 AND ($1 = '' OR p.club_id = $1) AND ($2 = '' OR LOWER(p.category) = LOWER($2))
           AND ($3 = '' OR LOWER(p.name) LIKE $4 ESCAPE '\\' OR LOWER(p.description) LIKE $4 ESCAPE '\\')
           AND ($5 = '' OR p.id > $5)
         ORDER BY p.id LIMIT $6 OFFSET $7"
    )))
    .bind(q.club.as_deref().unwrap_or(""))
    .bind(category)
    .bind(text)
    .bind(&pattern)
    .bind(q.cursor.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(state.db.reader())
    .await?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut variants = variants_of(state.db.reader(), &ids).await?;
    let mut products = rows
        .iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            product_from_row(r, variants.remove(&id).unwrap_or_default())
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let next_cursor = crate::http::validate::next_page(&mut products, limit, |p| p.id.clone());
    Ok(ProductList {
        products,
        next_cursor,
    })
}

async fn load_product(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> ApiResult<Option<Product>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut v = variants_of(conn, &[id.to_owned()]).await?;
    Ok(Some(product_from_row(
        &row,
        v.remove(id).unwrap_or_default(),
    )?))
}

/// An active product (inactive and unknown ones are 404 to fans).
pub async fn product(state: &AppState, id: &str) -> ApiResult<Product> {
    match load_product(state.db.reader(), id).await? {
        Some(p) if p.active => Ok(p),
        _ => Err(ApiError::not_found("product")),
    }
}

const CART_SQL: &str = "
SELECT ci.id, ci.quantity, v.id AS variant_id, v.size, v.stock, p.id AS product_id, p.club_id, p.name,
       p.price, p.currency, p.active
FROM cart_items ci
JOIN product_variants v ON v.id = ci.variant_id
JOIN products p ON p.id = v.product_id
WHERE ci.user_id = $1
ORDER BY ci.created_at, ci.id";

struct CartLine {
    item: CartItem,
    price: i64,
    currency: Currency,
    stock: i64,
    active: bool,
}

async fn cart_lines(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> ApiResult<Vec<CartLine>> {
    let rows = sqlx::query(CART_SQL).bind(user_id).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let cur = currency_of(&r.try_get::<String, _>("currency")?);
            let price: i64 = r.try_get("price")?;
            let quantity: i64 = r.try_get("quantity")?;
            let stock: i64 = r.try_get("stock")?;
            let active = r.try_get::<i64, _>("active")? != 0;
            Ok(CartLine {
                item: CartItem {
                    id: r.try_get("id")?,
                    product_id: r.try_get("product_id")?,
                    variant_id: r.try_get("variant_id")?,
                    club_id: r.try_get("club_id")?,
                    name: r.try_get("name")?,
                    size: r.try_get("size")?,
                    unit_price: format_minor(price, cur),
                    quantity,
                    line_total: format_minor(price * quantity, cur),
                    currency: cur.code().to_owned(),
                    available: active && stock >= quantity,
                },
                price,
                currency: cur,
                stock,
                active,
            })
        })
        .collect()
}

pub async fn cart(state: &AppState, user_id: &str) -> ApiResult<Cart> {
    let lines = cart_lines(state.db.reader(), user_id).await?;
    let currencies: std::collections::BTreeSet<Currency> =
        lines.iter().map(|l| l.currency).collect();
    let (total, currency) = match currencies.iter().next() {
        Some(c) if currencies.len() == 1 => {
            let sum: i64 = lines.iter().map(|l| l.price * l.item.quantity).sum();
            (Some(format_minor(sum, *c)), Some(c.code().to_owned()))
        }
        Some(_) => (None, None),
        None => (Some("0.00".to_owned()), None),
    };
    Ok(Cart {
        item_count: lines.iter().map(|l| l.item.quantity).sum(),
        items: lines.into_iter().map(|l| l.item).collect(),
        total,
        currency,
    })
}

pub async fn add_to_cart(state: &AppState, user_id: &str, body: AddToCart) -> ApiResult<Cart> {
    let product = product(state, &body.product_id).await?;
    let variant = match (&body.variant_id, product.variants.as_slice()) {
        (Some(id), vs) => vs.iter().find(|v| &v.id == id).ok_or_else(|| {
            ApiError::field(
                "variantId",
                "unknown_variant",
                "not a variant of this product",
            )
        })?,
        (None, [only]) => only,
        (None, _) => {
            return Err(ApiError::field(
                "variantId",
                "required",
                "this product comes in several sizes: choose one",
            ));
        }
    };
    let quantity = body.quantity.unwrap_or(1);
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    // Adding to an existing line sums the quantities; the CHECK keeps a line at 10.
    let row = sqlx::query(
        "INSERT INTO cart_items (id, user_id, variant_id, quantity, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (user_id, variant_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity,
                                                        updated_at = excluded.updated_at
         RETURNING quantity",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(&variant.id)
    .bind(quantity)
    .bind(now)
    .fetch_one(tx.conn())
    .await;
    let line_quantity: i64 = match row {
        Ok(r) => r.try_get("quantity")?,
        Err(e) if constraint_violation(&e).is_some_and(|c| c.contains("quantity")) => {
            return Err(ApiError::field(
                "quantity",
                "out_of_range",
                "a cart line holds at most 10",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if line_quantity > variant.stock {
        return Err(ApiError::conflict(
            "out_of_stock",
            format!("only {} left of {}", variant.stock, product.name),
        )
        .with("variantId", variant.id.clone())
        .with("available", variant.stock));
    }
    tx.commit().await?;
    cart(state, user_id).await
}

pub async fn update_cart_item(
    state: &AppState,
    user_id: &str,
    item_id: &str,
    quantity: i64,
) -> ApiResult<Cart> {
    let lines = cart_lines(state.db.reader(), user_id).await?;
    let line = lines
        .iter()
        .find(|l| l.item.id == item_id)
        .ok_or_else(|| ApiError::not_found("cart item"))?;
    if quantity > line.stock {
        return Err(
            ApiError::conflict("out_of_stock", format!("only {} left", line.stock))
                .with("variantId", line.item.variant_id.clone())
                .with("available", line.stock),
        );
    }
    let mut tx = state.db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE cart_items SET quantity = $3, updated_at = $4 WHERE id = $1 AND user_id = $2",
    )
    .bind(item_id)
    .bind(user_id)
    .bind(quantity)
    .bind(now_ms())
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    if n == 0 {
        return Err(ApiError::not_found("cart item"));
    }
    cart(state, user_id).await
}

pub async fn remove_cart_item(state: &AppState, user_id: &str, item_id: &str) -> ApiResult<Cart> {
    let mut tx = state.db.begin_write().await?;
    let n = sqlx::query("DELETE FROM cart_items WHERE id = $1 AND user_id = $2")
        .bind(item_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    if n == 0 {
        return Err(ApiError::not_found("cart item"));
    }
    cart(state, user_id).await
}

const ORDER_SQL: &str = "SELECT id, status, total, currency, created_at, updated_at FROM orders";

async fn orders_with_lines(conn: &mut AnyConnection, rows: Vec<AnyRow>) -> ApiResult<Vec<Order>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let cur = currency_of(&r.try_get::<String, _>("currency")?);
        let lines = sqlx::query(
            "SELECT product_id, variant_id, club_id, name, size, unit_price, quantity FROM order_lines
             WHERE order_id = $1 ORDER BY line_no",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|l| {
            let unit: i64 = l.try_get("unit_price")?;
            let q: i64 = l.try_get("quantity")?;
            Ok(OrderLine {
                product_id: l.try_get("product_id")?,
                variant_id: l.try_get("variant_id")?,
                club_id: l.try_get("club_id")?,
                name: l.try_get("name")?,
                size: l.try_get("size")?,
                unit_price: format_minor(unit, cur),
                quantity: q,
                line_total: format_minor(unit * q, cur),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.push(Order {
            id,
            status: r.try_get("status")?,
            lines,
            total: format_minor(r.try_get("total")?, cur),
            currency: cur.code().to_owned(),
            created_at: rfc3339(r.try_get("created_at")?),
            updated_at: rfc3339(r.try_get("updated_at")?),
        });
    }
    Ok(out)
}

async fn load_order(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<(Order, String)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT user_id, {} WHERE id = $1",
        &ORDER_SQL[7..]
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: String = row.try_get("user_id")?;
    let order = orders_with_lines(conn, vec![row]).await?.pop();
    Ok(order.map(|o| (o, owner)))
}

/// One transaction: stock, money, order and cart move together or not at all.
pub async fn checkout(
    state: &AppState,
    user_id: &str,
    guard: Option<&crate::wallet::money::AmountInput>,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let idempotency_key = key.map(|k| k.0.as_str());
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let lines = cart_lines(tx.conn(), user_id).await?;
    if lines.is_empty() {
        return Err(ApiError::unprocessable("cart_empty", "your cart is empty"));
    }
    let currency = lines[0].currency;
    if lines.iter().any(|l| l.currency != currency) {
        return Err(ApiError::unprocessable(
            "mixed_currencies",
            "the cart holds items in several currencies; check them out separately",
        ));
    }
    if let Some(l) = lines.iter().find(|l| !l.active) {
        return Err(ApiError::conflict(
            "product_unavailable",
            format!("{} is no longer sold", l.item.name),
        )
        .with("itemId", l.item.id.clone()));
    }
    let total: i64 = lines.iter().map(|l| l.price * l.item.quantity).sum();
    if let Some(g) = guard {
        let sent = g.parse(currency).map_err(|e| amount_error("total", e))?;
        if sent != total {
            return Err(ApiError::conflict(
                "price_changed",
                format!(
                    "the total is now {} {}",
                    format_minor(total, currency),
                    currency.code()
                ),
            )
            .with("currentTotal", format_minor(total, currency))
            .with("currency", currency.code()));
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
            return Err(ApiError::conflict(
                "out_of_stock",
                format!("only {left} left of {}; nothing was charged", l.item.name),
            )
            .with("itemId", l.item.id.clone())
            .with("variantId", l.item.variant_id.clone())
            .with("available", left));
        }
    }
    let order_id = new_id();
    let bps = state.config.commission_bps;
    let mut per_club: BTreeMap<&str, i64> = BTreeMap::new();
    for l in &lines {
        *per_club.entry(&l.item.club_id).or_default() += l.price * l.item.quantity;
    }
    let mut postings = Vec::new();
    for (club, amount) in &per_club {
        postings.extend(
            sales::sale_postings(
                tx.conn(),
                &Sale {
                    buyer_user_id: user_id,
                    club_id: club,
                    amount: *amount,
                    currency,
                    commission_bps: bps,
                    reference: ("order", order_id.clone()),
                },
                "purchase",
            )
            .await?,
        );
    }
    let buyer = ledger::account_id(tx.conn(), AccountKind::User, user_id, currency).await?;
    let posted = ledger::post(
        tx.conn(),
        Operation {
            kind: "shop_checkout",
            user_id: Some(user_id),
            idempotency_key,
        },
        postings,
    )
    .await
    .map_err(|e| ledger_error(e, currency))?;
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, total, currency, commission_bps, operation_id, created_at, updated_at)
         VALUES ($1, $2, 'paid', $3, $4, $5, $6, $7, $7)",
    )
    .bind(&order_id)
    .bind(user_id)
    .bind(total)
    .bind(currency.code())
    .bind(bps)
    .bind(&posted.operation_id)
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
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("order vanished")))?;
    let resp = CheckoutResponse {
        order,
        new_balance: format_minor(posted.balances[&buyer], currency),
        currency: currency.code().to_owned(),
    };
    let answer = Answer::store(tx.conn(), user_id, key, StatusCode::CREATED, &resp).await?;
    tx.commit().await?;
    Ok(answer)
}

pub async fn my_orders(
    state: &AppState,
    user_id: &str,
    q: &crate::wallet::model::ListQuery,
) -> ApiResult<OrderList> {
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
    .fetch_all(state.db.reader())
    .await?;
    let mut orders = orders_with_lines(&mut *state.db.reader().acquire().await?, rows).await?;
    let next_cursor = crate::http::validate::next_page(&mut orders, limit, |o| o.id.clone());
    Ok(OrderList {
        orders,
        next_cursor,
    })
}

pub async fn order(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Order> {
    match load_order(&mut *state.db.reader().acquire().await?, id).await? {
        Some((o, owner)) if owner == user.id || user.is_admin() => Ok(o),
        _ => Err(ApiError::not_found("order")),
    }
}

/// Cancels a paid order: the fan gets every cent back through the ledger
/// (the split reversed at the commission rate charged) and the stock returns.
pub async fn cancel(
    state: &AppState,
    user_id: &str,
    id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let idempotency_key = key.map(|k| k.0.as_str());
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
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
        return match load_order(&mut *state.db.reader().acquire().await?, id).await? {
            Some((o, owner)) if owner == user_id => Err(ApiError::conflict(
                "not_cancellable",
                format!("a {} order cannot be cancelled", o.status),
            )),
            _ => Err(ApiError::not_found("order")),
        };
    };
    let currency = currency_of(&row.try_get::<String, _>("currency")?);
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
    let mut postings = Vec::new();
    for (club, amount) in &per_club {
        postings.extend(
            sales::refund_postings(
                tx.conn(),
                &Sale {
                    buyer_user_id: user_id,
                    club_id: club,
                    amount: *amount,
                    currency,
                    commission_bps: bps,
                    reference: ("order", id.to_owned()),
                },
            )
            .await?,
        );
    }
    let buyer = ledger::account_id(tx.conn(), AccountKind::User, user_id, currency).await?;
    let posted = ledger::post(
        tx.conn(),
        Operation {
            kind: "order_refund",
            user_id: Some(user_id),
            idempotency_key,
        },
        postings,
    )
    .await
    .map_err(|e| ledger_error(e, currency))?;
    let (order, _) = load_order(tx.conn(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let resp = CheckoutResponse {
        order,
        new_balance: format_minor(posted.balances[&buyer], currency),
        currency: currency.code().to_owned(),
    };
    let answer = Answer::store(tx.conn(), user_id, key, StatusCode::OK, &resp).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Staff of a club with lines in the order (or an admin) move it along:
/// paid -> shipped -> delivered, each step a conditional update.
pub async fn set_status(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    status: &str,
) -> ApiResult<Order> {
    let clubs: Vec<String> =
        sqlx::query("SELECT DISTINCT club_id FROM order_lines WHERE order_id = $1")
            .bind(id)
            .fetch_all(state.db.reader())
            .await?
            .iter()
            .map(|r| r.try_get("club_id"))
            .collect::<Result<_, _>>()?;
    if clubs.is_empty() {
        return Err(ApiError::not_found("order"));
    }
    if !clubs.iter().any(|c| user.require_staff_of(c).is_ok()) {
        return Err(ApiError::forbidden(
            "only staff of a club in this order may change it",
        ));
    }
    let from = if status == "shipped" {
        "paid"
    } else {
        "shipped"
    };
    let mut tx = state.db.begin_write().await?;
    let n =
        sqlx::query("UPDATE orders SET status = $2, updated_at = $4 WHERE id = $1 AND status = $3")
            .bind(id)
            .bind(status)
            .bind(from)
            .bind(now_ms())
            .execute(tx.conn())
            .await?
            .rows_affected();
    tx.commit().await?;
    let (order, _) = load_order(&mut *state.db.reader().acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    if n == 0 {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a {} order cannot become {status}", order.status),
        ));
    }
    Ok(order)
}

async fn insert_variant(
    conn: &mut AnyConnection,
    product_id: &str,
    size: Option<&str>,
    stock: i64,
    position: i64,
) -> ApiResult<()> {
    sqlx::query("INSERT INTO product_variants (id, product_id, size, stock, position) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id())
        .bind(product_id)
        .bind(size.map(str::trim))
        .bind(stock)
        .bind(position)
        .execute(conn)
        .await
        .map_err(|e| match constraint_violation(&e) {
            Some(c) if c.contains("size") => ApiError::conflict("variant_exists", "this product already has that size"),
            _ => e.into(),
        })?;
    Ok(())
}

async fn club_currency(state: &AppState, club: &str) -> ApiResult<Currency> {
    let row = sqlx::query("SELECT currency FROM clubs WHERE id = $1")
        .bind(club)
        .fetch_optional(state.db.reader())
        .await?
        .ok_or_else(|| ApiError::field("clubId", "unknown_club", format!("no club {club}")))?;
    Ok(currency_of(&row.try_get::<String, _>("currency")?))
}

pub async fn create_product(
    state: &AppState,
    user: &AuthUser,
    p: NewProduct,
) -> ApiResult<Product> {
    user.require_staff_of(&p.club_id)?;
    let currency = club_currency(state, &p.club_id).await?;
    let price = p
        .price
        .parse(currency)
        .map_err(|e| amount_error("price", e))?;
    let id = new_id();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO products (id, club_id, name, category, description, image_url, price, currency, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
    )
    .bind(&id)
    .bind(&p.club_id)
    .bind(p.name.trim())
    .bind(p.category.trim().to_lowercase())
    .bind(p.description.as_deref().unwrap_or("").trim())
    .bind(p.image_url.as_deref())
    .bind(price)
    .bind(currency.code())
    .bind(now)
    .execute(tx.conn())
    .await?;
    let variants = p.variants.unwrap_or_else(|| {
        vec![NewVariant {
            size: None,
            stock: 0,
        }]
    });
    for (i, v) in variants.iter().enumerate() {
        insert_variant(tx.conn(), &id, v.size.as_deref(), v.stock, i as i64).await?;
    }
    tx.commit().await?;
    load_product(state.db.reader(), &id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("product vanished")))
}

pub async fn update_product(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    u: UpdateProduct,
) -> ApiResult<Product> {
    let existing = load_product(state.db.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    user.require_staff_of(&existing.club_id)?;
    let currency = currency_of(&existing.currency);
    let price = u
        .price
        .as_ref()
        .map(|p| p.parse(currency).map_err(|e| amount_error("price", e)))
        .transpose()?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), category = COALESCE($3, category),
                description = COALESCE($4, description), image_url = COALESCE($5, image_url),
                price = COALESCE($6, price), active = COALESCE($7, active), updated_at = $8
         WHERE id = $1",
    )
    .bind(id)
    .bind(u.name.as_deref().map(str::trim))
    .bind(u.category.as_deref().map(|c| c.trim().to_lowercase()))
    .bind(u.description.as_deref().map(str::trim))
    .bind(u.image_url.as_deref())
    .bind(price)
    .bind(u.active.map(i64::from))
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    for (i, v) in u.variants.iter().flatten().enumerate() {
        match &v.id {
            Some(vid) => {
                let n = sqlx::query("UPDATE product_variants SET stock = $3, size = COALESCE($4, size) WHERE id = $1 AND product_id = $2")
                    .bind(vid)
                    .bind(id)
                    .bind(v.stock)
                    .bind(v.size.as_deref())
                    .execute(tx.conn())
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(ApiError::field(
                        &format!("variants[{i}].id"),
                        "unknown_variant",
                        "not a variant of this product",
                    ));
                }
            }
            None => {
                insert_variant(tx.conn(), id, v.size.as_deref(), v.stock, 100 + i as i64).await?
            }
        }
    }
    tx.commit().await?;
    load_product(state.db.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))
}

pub async fn deactivate_product(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Product> {
    update_product(
        state,
        user,
        id,
        UpdateProduct {
            name: None,
            category: None,
            description: None,
            image_url: None,
            price: None,
            active: Some(false),
            variants: None,
        },
    )
    .await
}
