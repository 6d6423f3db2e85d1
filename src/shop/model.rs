use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};
use crate::wallet::money::AmountInput;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Variant {
    pub id: String,
    /// Null for a product without sizes.
    pub size: Option<String>,
    pub stock: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub club_id: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub image_url: Option<String>,
    #[schema(example = "89.99")]
    pub price: String,
    /// What it sold at before a reduction (above `price`); null otherwise.
    #[schema(example = "99.99")]
    pub compare_at_price: Option<String>,
    pub currency: String,
    pub active: bool,
    pub in_stock: bool,
    pub variants: Vec<Variant>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductList {
    pub products: Vec<Product>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductResponse {
    pub product: Product,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Club id.
    #[param(min_length = 1, max_length = 64)]
    pub club: Option<String>,
    /// Category; `all` means no filter (v1.0).
    #[param(min_length = 1, max_length = 64)]
    pub category: Option<String>,
    /// Case-insensitive text search in name and description.
    #[param(max_length = 100)]
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub cursor: Option<String>,
}

impl Validate for ProductQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.optional_text("club", self.club.as_deref(), 1, 64);
        c.optional_text("category", self.category.as_deref(), 1, 64);
        c.optional_text("q", self.q.as_deref(), 0, 100);
        c.page(self.limit, self.offset, self.cursor.as_deref());
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddToCart {
    #[schema(min_length = 1, max_length = 64)]
    pub product_id: String,
    /// 1 to 10 (a line never holds more than 10).
    #[schema(minimum = 1, maximum = 10)]
    pub quantity: Option<i64>,
    /// Required when the product has several sizes.
    #[schema(min_length = 1, max_length = 64)]
    pub variant_id: Option<String>,
}

impl Validate for AddToCart {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("productId", &self.product_id, 1, 64);
        if let Some(q) = self.quantity {
            c.range("quantity", q, 1, 10);
        }
        c.optional_text("variantId", self.variant_id.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCartItem {
    #[schema(minimum = 1, maximum = 10)]
    pub quantity: i64,
}

impl Validate for UpdateCartItem {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.range("quantity", self.quantity, 1, 10);
        c.finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartItem {
    pub id: String,
    pub product_id: String,
    pub variant_id: String,
    pub club_id: String,
    pub name: String,
    pub size: Option<String>,
    pub unit_price: String,
    pub quantity: i64,
    pub line_total: String,
    pub currency: String,
    pub available: bool,
    /// When the product was first put in the cart.
    pub added_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    pub items: Vec<CartItem>,
    /// At current prices; null when the cart mixes currencies.
    pub total: Option<String>,
    pub currency: Option<String>,
    pub item_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CartResponse {
    pub cart: Cart,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// v1.0 guard: when it differs from the server's total, 409 `price_changed`.
    #[schema(value_type = Option<String>, example = "114.98")]
    pub total: Option<AmountInput>,
}

impl Validate for CheckoutRequest {}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: String,
    pub variant_id: String,
    pub club_id: String,
    pub name: String,
    pub size: Option<String>,
    pub unit_price: String,
    pub quantity: i64,
    pub line_total: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: String,
    pub currency: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    pub order: Order,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub orders: Vec<Order>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutResponse {
    pub order: Order,
    pub new_balance: String,
    pub currency: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusRequest {
    /// `shipped` or `delivered`.
    #[schema(pattern = "^(shipped|delivered)$")]
    pub status: String,
}

impl Validate for OrderStatusRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if self.status == "shipped" || self.status == "delivered" {
            Ok(())
        } else {
            Err(ApiError::field(
                "status",
                "invalid_value",
                "must be shipped or delivered",
            ))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    /// Null for a product without sizes.
    #[schema(min_length = 1, max_length = 20)]
    pub size: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProduct {
    #[schema(min_length = 1, max_length = 64)]
    pub club_id: String,
    #[schema(min_length = 1, max_length = 120)]
    pub name: String,
    #[schema(min_length = 1, max_length = 40)]
    pub category: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `https://`, `http://` or a path on this server (`/...`).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^(https?://|/)[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$"
    )]
    pub image_url: Option<String>,
    #[schema(value_type = String, example = "89.99")]
    pub price: AmountInput,
    /// Default: one variant without size and no stock.
    #[schema(min_items = 1, max_items = 20)]
    pub variants: Option<Vec<NewVariant>>,
}

fn check_variants(c: &mut Checks, variants: &[NewVariant]) {
    if variants.len() > 20 {
        c.push("variants", "out_of_range", "at most 20 variants");
    }
    for (i, v) in variants.iter().enumerate() {
        c.optional_text(&format!("variants[{i}].size"), v.size.as_deref(), 1, 20);
        c.range(&format!("variants[{i}].stock"), v.stock, 0, 1_000_000);
    }
}

fn check_url(c: &mut Checks, url: Option<&str>) {
    if let Some(u) = url {
        c.text("imageUrl", u, 1, 500);
        if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')) {
            c.push(
                "imageUrl",
                "invalid_format",
                "must be an http(s) URL or a path",
            );
        }
    }
}

impl Validate for NewProduct {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("clubId", &self.club_id, 1, 64);
        c.text("name", &self.name, 1, 120);
        c.text("category", &self.category, 1, 40);
        if self.category.eq_ignore_ascii_case("all") {
            c.push("category", "reserved", "`all` means every category");
        }
        c.optional_text("description", self.description.as_deref(), 0, 2000);
        check_url(&mut c, self.image_url.as_deref());
        if let Some(v) = &self.variants {
            if v.is_empty() {
                c.push("variants", "required", "at least one variant");
            }
            check_variants(&mut c, v);
        }
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantChange {
    /// Existing variant to change; omit to add a new one.
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub size: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProduct {
    #[schema(min_length = 1, max_length = 120)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    pub category: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `https://`, `http://` or a path on this server (`/...`).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^(https?://|/)[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$"
    )]
    pub image_url: Option<String>,
    #[schema(value_type = Option<String>)]
    pub price: Option<AmountInput>,
    pub active: Option<bool>,
    #[schema(max_items = 20)]
    pub variants: Option<Vec<VariantChange>>,
}

impl Validate for UpdateProduct {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.optional_text("name", self.name.as_deref(), 1, 120);
        c.optional_text("category", self.category.as_deref(), 1, 40);
        c.optional_text("description", self.description.as_deref(), 0, 2000);
        check_url(&mut c, self.image_url.as_deref());
        if let Some(vs) = &self.variants {
            if vs.len() > 20 {
                c.push("variants", "out_of_range", "at most 20 variants");
            }
            for (i, v) in vs.iter().enumerate() {
                c.optional_text(&format!("variants[{i}].size"), v.size.as_deref(), 1, 20);
                c.range(&format!("variants[{i}].stock"), v.stock, 0, 1_000_000);
            }
        }
        c.finish()
    }
}

crate::status_enum!(
    /// An order's way from payment to the fan's door.
    OrderStatus {
        Paid = "paid",
        Shipped = "shipped",
        Delivered = "delivered",
        /// Cancelled by the fan before shipping, and refunded.
        Cancelled = "cancelled",
    }
);
