-- Add a tracking token and make customer_id mandatory on the busiest table.
ALTER TABLE orders ADD COLUMN tracking_token uuid DEFAULT gen_random_uuid();
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
CREATE INDEX orders_created_at_idx ON orders (created_at);
ALTER TABLE orders RENAME COLUMN note TO customer_note;
