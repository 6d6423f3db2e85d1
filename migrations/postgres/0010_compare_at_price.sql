-- The price a product sold at before a reduction, shown struck through next
-- to the price (v1.0's `oldPrice`); null when the product is not reduced.
ALTER TABLE products ADD COLUMN compare_at_price BIGINT;
