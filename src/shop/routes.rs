use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::response::Response;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::http::cache::PublicRead;
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, RequestAuth};
use crate::http::idempotency::{self, Answer, IdempotencyKey};
use crate::replay::Replay;
use crate::shop::Shop;
use crate::shop::model::*;
use crate::wallet::model::ListQuery;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Shop: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    // Checkout and cancel are each one transaction that stores its own
    // answer with the money.
    let money_moving = OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(cancel_order))
        .route_layer(from_fn(idempotency::committed_layer));
    OpenApiRouter::new()
        .routes(routes!(products))
        .routes(routes!(product))
        .routes(routes!(add_to_cart))
        .routes(routes!(get_cart))
        .routes(routes!(update_cart_item, remove_cart_item))
        .routes(routes!(orders))
        .routes(routes!(order))
        .merge(money_moving)
}

pub fn admin_products_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Shop: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(update_product, deactivate_product))
}

pub fn admin_orders_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Shop: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(set_order_status))
}

/// The catalogue: active products, filtered by club, category (`all` = any) and text.
#[utoipa::path(get, path = "/products", tag = "shop", params(ProductQuery),
    responses((status = 200, body = ProductList)))]
async fn products(
    State(shop): State<Shop>,
    read: PublicRead,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> ApiResult<Response> {
    let page = shop.list_products(&q).await?;
    Ok(read.answer(&page))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "shop", params(("id" = String, Path)),
    responses((status = 200, body = ProductResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn product(
    State(shop): State<Shop>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductResponse>> {
    Ok(Json(ProductResponse {
        product: shop.product(&id).await?,
    }))
}

/// Add a product (size) to my cart.
#[utoipa::path(post, path = "/cart/add", tag = "shop", security(("bearerAuth" = [])), request_body = AddToCart,
    responses((status = 200, body = CartResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "unknown or inactive product"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`out_of_stock`")))]
async fn add_to_cart(
    State(shop): State<Shop>,
    user: AuthUser,
    ApiJson(body): ApiJson<AddToCart>,
) -> ApiResult<Json<CartResponse>> {
    Ok(Json(CartResponse {
        cart: shop.add_to_cart(&user.id, body).await?,
    }))
}

/// My cart at current prices.
#[utoipa::path(get, path = "/cart", tag = "shop", security(("bearerAuth" = [])),
    responses((status = 200, body = CartResponse)))]
async fn get_cart(State(shop): State<Shop>, user: AuthUser) -> ApiResult<Json<CartResponse>> {
    Ok(Json(CartResponse {
        cart: shop.cart(&user.id).await?,
    }))
}

/// Change a cart line's quantity.
#[utoipa::path(patch, path = "/cart/items/{id}", tag = "shop", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = UpdateCartItem,
    responses((status = 200, body = CartResponse), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn update_cart_item(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateCartItem>,
) -> ApiResult<Json<CartResponse>> {
    Ok(Json(CartResponse {
        cart: shop.update_cart_item(&user.id, &id, body.quantity).await?,
    }))
}

/// Remove a cart line.
#[utoipa::path(delete, path = "/cart/items/{id}", tag = "shop", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CartResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_cart_item(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CartResponse>> {
    Ok(Json(CartResponse {
        cart: shop.remove_cart_item(&user.id, &id).await?,
    }))
}

/// Pay for the cart: stock, money, order and cart move in one transaction.
#[utoipa::path(post, path = "/checkout", tag = "shop", security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept 24 h")),
    request_body = CheckoutRequest,
    responses((status = 201, body = CheckoutResponse),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "`cart_empty`, `out_of_stock` (names the line), `price_changed`, `insufficient_funds`, `product_unavailable`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "`mixed_currencies`")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn checkout(
    State(shop): State<Shop>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 201);
    let value = shop
        .checkout(&user.id, body.total.as_ref(), &replay)
        .await?;
    Answer::after(replay, &value)
}

/// My orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "shop", security(("bearerAuth" = [])), params(ListQuery),
    responses((status = 200, body = OrderList)))]
async fn orders(
    State(shop): State<Shop>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<OrderList>> {
    Ok(Json(shop.my_orders(&user.id, &q).await?))
}

/// One of my orders (someone else's is 404).
#[utoipa::path(get, path = "/orders/{id}", tag = "shop", security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn order(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderResponse>> {
    Ok(Json(OrderResponse {
        order: shop.order(&user, &id).await?,
    }))
}

/// Cancel before shipping: full refund through the ledger, stock back.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "shop", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CheckoutResponse), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`not_cancellable`")))]
async fn cancel_order(
    State(shop): State<Shop>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    Path(id): Path<String>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 200);
    let value = shop.cancel(&user.id, &id, &replay).await?;
    Answer::after(replay, &value)
}

/// Create a product (staff of its club, admins).
#[utoipa::path(post, path = "", tag = "admin", security(("bearerAuth" = [])), request_body = NewProduct,
    responses((status = 201, body = ProductResponse), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn create_product(
    State(shop): State<Shop>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewProduct>,
) -> ApiResult<(StatusCode, Json<ProductResponse>)> {
    Ok((
        StatusCode::CREATED,
        Json(ProductResponse {
            product: shop.create_product(&user, body).await?,
        }),
    ))
}

/// Change a product, its price, stock or sizes.
#[utoipa::path(patch, path = "/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = UpdateProduct,
    responses((status = 200, body = ProductResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update_product(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProduct>,
) -> ApiResult<Json<ProductResponse>> {
    Ok(Json(ProductResponse {
        product: shop.update_product(&user, &id, body).await?,
    }))
}

/// Stop selling a product (it stays in past orders).
#[utoipa::path(delete, path = "/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ProductResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn deactivate_product(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductResponse>> {
    Ok(Json(ProductResponse {
        product: shop.deactivate_product(&user, &id).await?,
    }))
}

/// Mark an order shipped or delivered (staff of a club in the order, admins).
#[utoipa::path(post, path = "/{id}/status", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = OrderStatusRequest,
    responses((status = 200, body = OrderResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`invalid_transition`")))]
async fn set_order_status(
    State(shop): State<Shop>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OrderStatusRequest>,
) -> ApiResult<Json<OrderResponse>> {
    Ok(Json(OrderResponse {
        order: shop.set_status(&user, &id, &body.status).await?,
    }))
}
