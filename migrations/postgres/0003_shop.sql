-- Club shop. Stock lives on variants and never goes below zero (conditional
-- update at checkout, CHECK here); orders keep a snapshot of what was bought.

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    club_id     TEXT NOT NULL REFERENCES clubs (id),
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_url   TEXT,
    price       BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    active      BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT products_price_check CHECK (price > 0)
);
CREATE INDEX products_club_idx ON products (club_id, category);

-- A product without sizes has one variant whose size is NULL.
CREATE TABLE product_variants (
    id         TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    size       TEXT,
    stock      BIGINT NOT NULL,
    position   BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT product_variants_stock_check CHECK (stock >= 0),
    CONSTRAINT product_variants_size_key UNIQUE (product_id, size)
);
CREATE INDEX product_variants_product_idx ON product_variants (product_id);

CREATE TABLE cart_items (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    variant_id TEXT NOT NULL REFERENCES product_variants (id),
    quantity   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT cart_items_quantity_check CHECK (quantity BETWEEN 1 AND 10),
    CONSTRAINT cart_items_variant_key UNIQUE (user_id, variant_id)
);

CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    status         TEXT NOT NULL,
    total          BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    commission_bps BIGINT NOT NULL,
    operation_id   TEXT REFERENCES ledger_operations (id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT orders_status_check CHECK (status IN ('paid', 'shipped', 'delivered', 'cancelled'))
);
CREATE INDEX orders_user_idx ON orders (user_id, id);

CREATE TABLE order_lines (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    line_no    BIGINT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    variant_id TEXT NOT NULL REFERENCES product_variants (id),
    club_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    size       TEXT,
    unit_price BIGINT NOT NULL,
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_club_idx ON order_lines (club_id);
