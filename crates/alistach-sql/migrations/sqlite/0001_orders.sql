-- Orders keyed by sub-order id, their status history, sync cursors and leases.
-- Ids are the platform's unsigned 64-bit numbers stored bit for bit in a signed INTEGER;
-- money is in cents (INTEGER), times in Unix milliseconds (INTEGER).
CREATE TABLE orders (
    sub_order_id                  INTEGER PRIMARY KEY,
    order_id                      INTEGER,
    status                        TEXT    NOT NULL,
    tracking_id                   TEXT,
    product_id                    INTEGER,
    product_title                 TEXT,
    category_id                   INTEGER,
    product_count                 INTEGER,
    paid_amount                   INTEGER NOT NULL,
    finished_amount               INTEGER,
    estimated_paid_commission     INTEGER NOT NULL,
    estimated_finished_commission INTEGER,
    commission_rate               TEXT,
    currency                      TEXT    NOT NULL,
    created_at_ms                 INTEGER,
    paid_at_ms                    INTEGER,
    finished_at_ms                INTEGER,
    custom_parameters             TEXT,
    ship_to_country               TEXT,
    mock                          BOOLEAN NOT NULL,
    order_time_ms                 INTEGER NOT NULL,
    first_seen_ms                 INTEGER NOT NULL,
    updated_ms                    INTEGER NOT NULL
);
CREATE INDEX orders_by_time ON orders (mock, order_time_ms);
CREATE INDEX orders_by_tracking ON orders (tracking_id, order_time_ms);

CREATE TABLE order_status_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sub_order_id    INTEGER NOT NULL REFERENCES orders (sub_order_id),
    status          TEXT    NOT NULL,
    previous_status TEXT,
    observed_at_ms  INTEGER NOT NULL
);
CREATE INDEX order_status_history_by_order ON order_status_history (sub_order_id, id);

CREATE TABLE sync_cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
