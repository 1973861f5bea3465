-- Product watches and what their checks last saw. Times in Unix milliseconds; prices are
-- exact decimal text; `available` is NULL before the first check.
CREATE TABLE watches (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id         INTEGER NOT NULL,
    price_drop_percent INTEGER,
    target_price       TEXT,
    currency           TEXT    NOT NULL,
    ship_to_country    TEXT,
    created_at_ms      INTEGER NOT NULL,
    baseline_price     TEXT,
    last_price         TEXT,
    available          BOOLEAN,
    notified           BOOLEAN NOT NULL DEFAULT FALSE,
    checked_at_ms      INTEGER
);
