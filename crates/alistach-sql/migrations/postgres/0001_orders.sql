-- Orders keyed by sub-order id, their status history, sync cursors and leases.
-- Ids are the platform's unsigned 64-bit numbers stored bit for bit in a signed BIGINT;
-- money is in cents (BIGINT), times in Unix milliseconds (BIGINT).
CREATE TABLE orders (
    sub_order_id                  BIGINT PRIMARY KEY,
    order_id                      BIGINT,
    status                        TEXT    NOT NULL,
    tracking_id                   TEXT,
    product_id                    BIGINT,
    product_title                 TEXT,
    category_id                   BIGINT,
    product_count                 BIGINT,
    paid_amount                   BIGINT  NOT NULL,
    finished_amount               BIGINT,
    estimated_paid_commission     BIGINT  NOT NULL,
    estimated_finished_commission BIGINT,
    commission_rate               TEXT,
    currency                      TEXT    NOT NULL,
    created_at_ms                 BIGINT,
    paid_at_ms                    BIGINT,
    finished_at_ms                BIGINT,
    custom_parameters             TEXT,
    ship_to_country               TEXT,
    mock                          BOOLEAN NOT NULL,
    order_time_ms                 BIGINT  NOT NULL,
    first_seen_ms                 BIGINT  NOT NULL,
    updated_ms                    BIGINT  NOT NULL
);
CREATE INDEX orders_by_time ON orders (mock, order_time_ms);
CREATE INDEX orders_by_tracking ON orders (tracking_id, order_time_ms);

CREATE TABLE order_status_history (
    id              BIGSERIAL PRIMARY KEY,
    sub_order_id    BIGINT  NOT NULL REFERENCES orders (sub_order_id),
    status          TEXT    NOT NULL,
    previous_status TEXT,
    observed_at_ms  BIGINT  NOT NULL
);
CREATE INDEX order_status_history_by_order ON order_status_history (sub_order_id, id);

CREATE TABLE sync_cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_ms BIGINT  NOT NULL
);

CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT    NOT NULL,
    expires_at_ms BIGINT  NOT NULL
);
