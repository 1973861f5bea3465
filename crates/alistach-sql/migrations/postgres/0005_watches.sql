-- Product watches and what their checks last saw. Times in Unix milliseconds; prices are
-- exact decimal text; `available` is NULL before the first check.
CREATE TABLE watches (
    id                 BIGSERIAL PRIMARY KEY,
    product_id         BIGINT  NOT NULL,
    price_drop_percent BIGINT,
    target_price       TEXT,
    currency           TEXT    NOT NULL,
    ship_to_country    TEXT,
    created_at_ms      BIGINT  NOT NULL,
    baseline_price     TEXT,
    last_price         TEXT,
    available          BOOLEAN,
    notified           BOOLEAN NOT NULL DEFAULT FALSE,
    checked_at_ms      BIGINT
);
