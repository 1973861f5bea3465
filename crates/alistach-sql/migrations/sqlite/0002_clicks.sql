-- Clicks on tracked links (LINK_TRACKING=redirect), appended by the click drain.
-- Product ids are the platform's unsigned 64-bit numbers stored bit for bit in a signed INTEGER;
-- times in Unix milliseconds; variant NULL when no experiment made the link.
CREATE TABLE clicks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    product_id  INTEGER NOT NULL,
    tracking_id TEXT    NOT NULL,
    variant     INTEGER
);
CREATE INDEX clicks_by_product ON clicks (product_id);
CREATE INDEX clicks_by_time ON clicks (at_ms);
