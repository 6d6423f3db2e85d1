//! What version 2026-12-01 changed from 1.0, each change with how to undo it
//! for a 1.0 client (../shared/API-v1.md lists what 1.0 clients read).
//!
//! 2026-12-01 writes money as exact decimal strings next to their currency
//! and times as RFC 3339; 1.0 wrote numbers in major units and milliseconds,
//! confirmed actions with a `message`, and named some fields differently.
//! Fields the current shape added are left in place (1.0 clients ignore
//! them); no field 1.0 sent changes name or type.

use serde_json::{Value, json};

use super::convert::{amount_field, amount_from_float, money_number, ms, time_as, time_field};
use super::{At, Change, Context, RequestChange};

const fn at(method: &'static str, path: &'static str, paths: &'static [&'static str]) -> At {
    At {
        method,
        path,
        paths,
    }
}

pub const CHANGES: &[Change] = &[
    Change {
        name: "confirmation_messages",
        description: "Actions no longer answer a human `message`: the status code and the resource say what happened.",
        applies_to: &[
            at("POST", "/api/auth/register", &[""]),
            at("POST", "/api/auth/login", &[""]),
            at("POST", "/api/wallet/send", &[""]),
            at("POST", "/api/wallet/deposit", &[""]),
            at("POST", "/api/esim/activate", &[""]),
            at("POST", "/api/shop/cart/add", &[""]),
            at("POST", "/api/shop/checkout", &[""]),
            at("POST", "/api/tickets/purchase", &[""]),
        ],
        undo: confirmation_messages,
    },
    Change {
        name: "balances_as_decimal_strings",
        description: "`newBalance`, `balance` and the register answer's `wallet.balance` are decimal strings next to `currency`.",
        applies_to: &[
            at("POST", "/api/auth/register", &["wallet"]),
            at("POST", "/api/wallet/send", &[""]),
            at("POST", "/api/wallet/deposit", &[""]),
            at("POST", "/api/esim/activate", &[""]),
            at("POST", "/api/shop/checkout", &[""]),
            at("POST", "/api/tickets/purchase", &[""]),
        ],
        undo: balances_as_numbers,
    },
    Change {
        name: "wallet_balances_by_currency",
        description: "The balance lists `balances` (currency, decimal string) instead of `assets` (symbol, number, value in euros).",
        applies_to: &[at("GET", "/api/wallet/balance", &[""])],
        undo: wallet_assets,
    },
    Change {
        name: "transaction_direction",
        description: "A transaction's `amount` is unsigned with a `direction` (in/out), and it is dated by `createdAt`.",
        applies_to: &[
            at("GET", "/api/wallet/transactions", &["transactions[]"]),
            at("POST", "/api/wallet/send", &["transaction"]),
            at("POST", "/api/wallet/deposit", &["transaction"]),
        ],
        undo: transaction,
    },
    Change {
        name: "transaction_links",
        description: "A transfer names its recipient in `counterparty`, a deposit its method in `payment`.",
        applies_to: &[
            at("POST", "/api/wallet/send", &[""]),
            at("POST", "/api/wallet/deposit", &[""]),
        ],
        undo: transaction_links,
    },
    Change {
        name: "esim_plan_details",
        description: "A plan lists its `countries` (codes), `dataMb` and `validityDays`; 1.0 counted countries and named the validity `duration`.",
        applies_to: &[at("GET", "/api/esim/plans", &["plans[]"])],
        undo: esim_plan,
    },
    Change {
        name: "esim_activation_code",
        description: "An eSIM carries its `activationCode` (LPA), its `plan` and data in MB, and keeps its lifecycle status (ready, active, ...).",
        applies_to: &[
            at("POST", "/api/esim/activate", &["esim"]),
            at("GET", "/api/esim/active", &["esim"]),
        ],
        undo: esim,
    },
    Change {
        name: "product_variants",
        description: "A product is sold by variant (`variants` with their stock), names its `clubId`, its `imageUrl` (or null) and its `compareAtPrice`.",
        applies_to: &[at("GET", "/api/shop/products", &["products[]"])],
        undo: product,
    },
    Change {
        name: "cart_lines",
        description: "Cart lines are dated by `addedAt` (RFC 3339) and the count is `cart.itemCount`.",
        applies_to: &[
            at("POST", "/api/shop/cart/add", &["", "cart.items[]"]),
            at("GET", "/api/shop/cart", &["cart.items[]"]),
        ],
        undo: cart,
    },
    Change {
        name: "order_lines",
        description: "An order lists `lines` and is `paid` (then shipped, refunded, ...) rather than `confirmed`.",
        applies_to: &[at("POST", "/api/shop/checkout", &["order"])],
        undo: order,
    },
    Change {
        name: "event_teams",
        description: "An event names both teams (`homeClub`, `homeTeam`, `awayTeam`) and its `kickoff`, instead of a `title`, `club` and `date` in milliseconds.",
        applies_to: &[at("GET", "/api/tickets/events", &["events[]"])],
        undo: event,
    },
    Change {
        name: "signed_tickets",
        description: "A ticket is proven by its signed `qrCode` and its provenance chain; the `nft`/`blockchain` summary is gone.",
        applies_to: &[
            at("POST", "/api/tickets/purchase", &["ticket", "tickets[]"]),
            at("GET", "/api/tickets/my-tickets", &["tickets[]"]),
        ],
        undo: ticket,
    },
    Change {
        name: "social_times",
        description: "Chat messages and posts are dated in RFC 3339.",
        applies_to: &[
            at("POST", "/api/social/messages", &["data"]),
            at("GET", "/api/social/feed", &["feed[]"]),
        ],
        undo: social_time,
    },
    Change {
        name: "ai_amounts",
        description: "Predicted amounts are decimal strings next to their `currency`.",
        applies_to: &[
            at("GET", "/api/ai/insights", &["insights"]),
            at("GET", "/api/ai/predictions", &["predictions"]),
        ],
        undo: ai_amounts,
    },
    Change {
        name: "unknown_favourites",
        description: "A favourite team or player not known yet (no purchase named after a player, say) is null; 1.0 always sent an object.",
        applies_to: &[at("GET", "/api/ai/insights", &["insights"])],
        undo: unknown_favourites,
    },
    Change {
        name: "health_checks",
        description: "Health answers `ok` with the database engine and uptime; readiness (`/api/ready`) checks each dependency.",
        applies_to: &[at("GET", "/api/health", &[""])],
        undo: health,
    },
    Change {
        name: "stats_names",
        description: "Counters are named for what they count (`ticketsSold`, `activeEsims`).",
        applies_to: &[at("GET", "/api/stats", &[""])],
        undo: stats,
    },
];

pub const REQUEST_CHANGES: &[RequestChange] = &[RequestChange {
    name: "exact_amounts",
    description: "An amount sent as a JSON number is read digit for digit: more decimals than its currency has is refused. 1.0 clients computed amounts in binary floating point (3 × 79.99 is 239.96999999999997); a number within float error of a two-decimal amount is read as that amount for them.",
    applies_to: &[
        at("POST", "/api/wallet/send", &["amount"]),
        at("POST", "/api/wallet/deposit", &["amount"]),
        at("POST", "/api/shop/checkout", &["total"]),
        at("POST", "/api/tickets/purchase", &["price"]),
    ],
    redo: amount_from_float,
}];

fn confirmation_messages(body: &mut Value, ctx: &Context) {
    let message = match ctx.route {
        "/api/auth/register" => "Inscription réussie",
        "/api/auth/login" => "Connexion réussie",
        "/api/wallet/send" => "Transfert effectué",
        "/api/wallet/deposit" if body["status"] == "completed" => "Dépôt effectué",
        "/api/wallet/deposit" => "Dépôt en attente de confirmation",
        "/api/esim/activate" => "eSIM activée",
        "/api/shop/cart/add" => "Produit ajouté au panier",
        "/api/shop/checkout" => "Commande confirmée",
        "/api/tickets/purchase" => "Billet acheté",
        _ => return,
    };
    body["message"] = json!(message);
}

fn balances_as_numbers(body: &mut Value, _: &Context) {
    amount_field(body, "newBalance");
    amount_field(body, "balance");
}

/// Euros per unit, for 1.0's indicative `valueEUR`. XOF and XAF are pegged
/// (655.957 per euro, exact); the others are reference rates of
/// 2026-12-01 and only ever shown, never used to move money.
const EUR_PER_UNIT: &[(&str, f64)] = &[
    ("EUR", 1.0),
    ("XOF", 1.0 / 655.957),
    ("XAF", 1.0 / 655.957),
    ("USD", 0.86),
    ("GBP", 1.14),
    ("MAD", 0.093),
];

fn wallet_assets(body: &mut Value, _: &Context) {
    amount_field(body, "balance");
    let assets: Vec<Value> = body["balances"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    let symbol = b["currency"].as_str().unwrap_or_default();
                    let balance = b["balance"]
                        .as_str()
                        .and_then(money_number)
                        .unwrap_or(json!(0));
                    let rate = EUR_PER_UNIT
                        .iter()
                        .find(|(c, _)| *c == symbol)
                        .map(|(_, r)| *r);
                    let value = match (rate, balance.as_f64()) {
                        (Some(r), Some(b)) => {
                            money_number(&format!("{:.2}", b * r)).unwrap_or(Value::Null)
                        }
                        _ => Value::Null,
                    };
                    json!({"symbol": symbol, "balance": balance, "valueEUR": value})
                })
                .collect()
        })
        .unwrap_or_default();
    body["assets"] = Value::Array(assets);
}

fn transaction(t: &mut Value, ctx: &Context) {
    let out = t["direction"] == "out";
    if let Some(Value::Number(n)) = t["amount"].as_str().and_then(money_number) {
        t["amount"] = match (out, n.as_i64(), n.as_f64()) {
            (true, Some(i), _) => json!(-i),
            (true, None, Some(f)) => json!(-f),
            _ => Value::Number(n),
        };
    }
    amount_field(t, "balanceAfter");
    time_as(t, "createdAt", "timestamp");
    t["userId"] = json!(ctx.caller);
}

fn transaction_links(body: &mut Value, ctx: &Context) {
    if body["transaction"].is_null() {
        return;
    }
    if ctx.route == "/api/wallet/send" {
        body["transaction"]["recipient"] = body["transaction"]["counterparty"]["id"].clone();
    } else {
        body["transaction"]["method"] = body["payment"]["method"].clone();
    }
}

fn esim_plan(p: &mut Value, _: &Context) {
    amount_field(p, "price");
    let count = p["countries"].as_array().map_or(0, Vec::len);
    p["countryCodes"] = p["countries"].take();
    p["countries"] = json!(count);
    p["duration"] = p["validityDays"].clone();
    if p["unlimited"] == true {
        p["data"] = json!("Illimité");
    }
}

const DAY_MS: i64 = 86_400_000;

fn esim(e: &mut Value, ctx: &Context) {
    e["planId"] = e["plan"]["id"].clone();
    e["userId"] = json!(ctx.caller);
    e["qrCode"] = e["activationCode"].clone();
    time_as(e, "createdAt", "activatedAt");
    // Validity starts at first use; until then 1.0's `expiresAt` shows the
    // earliest it can be (validity counted from the purchase).
    if let Some(expires) = e["expiresAt"].as_str().and_then(ms) {
        e["expiresAt"] = expires;
    } else if let (Some(at), Some(days)) = (e["activatedAt"].as_i64(), e["validityDays"].as_i64()) {
        e["expiresAt"] = json!(at + days * DAY_MS);
    }
    // 1.0 counted data in GB (two decimals); an unlimited plan has no total (-1).
    let gb = |mb: &Value| {
        mb.as_f64()
            .and_then(|m| money_number(&format!("{:.2}", m / 1024.0)))
    };
    e["dataTotal"] = gb(&e["dataTotalMb"]).unwrap_or(json!(-1));
    e["dataUsed"] = gb(&e["dataUsedMb"]).unwrap_or(json!(0));
    if matches!(e["status"].as_str(), Some("ready" | "active")) {
        e["status"] = json!("active");
    }
    amount_field(e, "price");
}

fn product(p: &mut Value, _: &Context) {
    p["club"] = p["clubId"].clone();
    let price = p["price"].as_str().and_then(money_number);
    let old = p["compareAtPrice"].as_str().and_then(money_number);
    if let (Some(now), Some(was)) = (
        price.as_ref().and_then(Value::as_f64),
        old.as_ref().and_then(Value::as_f64),
    ) && was > now
    {
        p["oldPrice"] = old.clone().unwrap_or(Value::Null);
        p["discount"] = json!(((1.0 - now / was) * 100.0).round() as i64);
    }
    amount_field(p, "price");
    let image = match p["imageUrl"].as_str() {
        Some(url) => url.to_owned(),
        None => format!(
            "/api/social/avatars/{}",
            p["clubId"].as_str().unwrap_or_default()
        ),
    };
    p["image"] = json!(image);
    let stock: i64 = p["variants"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["stock"].as_i64()).sum())
        .unwrap_or(0);
    p["stock"] = json!(stock);
    p["nft"] = json!(p["category"] == "nft");
}

fn cart(v: &mut Value, _: &Context) {
    if v.get("cart").is_some() {
        v["itemCount"] = v["cart"]["itemCount"].clone();
    } else {
        time_field(v, "addedAt");
    }
}

fn order(o: &mut Value, ctx: &Context) {
    let mut items = o["lines"].clone();
    if let Some(list) = items.as_array_mut() {
        for line in list {
            amount_field(line, "unitPrice");
            amount_field(line, "lineTotal");
        }
    }
    o["items"] = items;
    amount_field(o, "total");
    if o["status"] == "paid" {
        o["status"] = json!("confirmed");
    }
    time_field(o, "createdAt");
    o["userId"] = json!(ctx.caller);
}

fn event(e: &mut Value, _: &Context) {
    let title = format!(
        "{} vs {}",
        e["homeTeam"].as_str().unwrap_or_default(),
        e["awayTeam"].as_str().unwrap_or_default()
    );
    e["title"] = json!(title);
    e["club"] = e["homeClub"].clone();
    time_as(e, "kickoff", "date");
    amount_field(e, "priceFrom");
    e["image"] = json!(format!(
        "/api/social/avatars/{}",
        e["homeClub"].as_str().unwrap_or_default()
    ));
    let categories = e["categories"].as_array().cloned().unwrap_or_default();
    let capacity: i64 = categories
        .iter()
        .filter_map(|c| c["capacity"].as_i64())
        .sum();
    let left = e["seatsAvailable"].as_i64().unwrap_or(0);
    // Hot: under a fifth of the seats left, and some still to buy.
    e["hot"] = json!(left > 0 && left * 5 < capacity);
    e["vip"] = json!(categories.iter().any(|c| {
        c["name"]
            .as_str()
            .is_some_and(|n| n.to_lowercase().contains("vip"))
    }));
}

fn ticket(t: &mut Value, ctx: &Context) {
    t["userId"] = json!(ctx.caller);
    amount_field(t, "price");
    time_field(t, "purchasedAt");
    // 1.0's token summary, from the ticket's EIP-721 metadata: each match is
    // a collection (`contractAddress`) whose tokens are the ticket serials;
    // the record is PaieCashFan's signed provenance chain, not a public chain.
    t["nft"] = json!(true);
    t["blockchain"] = json!({
        "network": "paiecashfan",
        "tokenId": t["serial"].clone(),
        "contractAddress": format!("pcf:event:{}", t["eventId"].as_str().unwrap_or_default()),
        "metadataUrl": format!("/api/tickets/{}/metadata", t["id"].as_str().unwrap_or_default()),
    });
}

/// 1.0 screens read `favoritePlayer.name` unguarded: an unknown favourite is
/// an empty name held with no confidence, never a made-up one.
fn unknown_favourites(v: &mut Value, _: &Context) {
    for key in ["favoriteTeam", "favoritePlayer"] {
        if v.get(key).is_some_and(Value::is_null) {
            v[key] = json!({"name": "", "confidence": 0});
        }
    }
}

fn social_time(v: &mut Value, _: &Context) {
    time_field(v, "timestamp");
}

fn ai_amounts(v: &mut Value, _: &Context) {
    amount_field(v, "predictedValue");
    if let Some(next) = v.get_mut("nextPurchase") {
        amount_field(next, "estimatedAmount");
    }
    if let Some(life) = v.get_mut("lifetime") {
        amount_field(life, "currentValue");
        amount_field(life, "predictedValue");
    }
}

fn health(h: &mut Value, _: &Context) {
    let ok = h["status"] == "ok";
    h["status"] = json!(if ok { "healthy" } else { "degraded" });
    time_field(h, "timestamp");
    let state = if ok { "operational" } else { "degraded" };
    h["services"] = json!({
        "auth": state, "wallet": state, "esim": state, "shop": state,
        "tickets": state, "social": state, "ai": state,
    });
}

fn stats(s: &mut Value, _: &Context) {
    s["esimActive"] = s["activeEsims"].clone();
    s["tickets"] = s["ticketsSold"].clone();
}
