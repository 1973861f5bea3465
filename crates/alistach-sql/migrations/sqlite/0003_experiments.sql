-- A/B experiments of link strategies, their variants (with the links each handed out), and
-- the experiment and variant each order's sub-ids name.
-- Times in Unix milliseconds; experiment ids as stored in orders are the `ab<id>` numbers
-- stored bit for bit in a signed INTEGER.
CREATE TABLE experiments (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    allocation         TEXT    NOT NULL CHECK (allocation IN ('fixed', 'bandit')),
    min_share_permille INTEGER NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    stopped_at_ms      INTEGER
);
-- At most one experiment runs at a time, whoever creates it.
CREATE UNIQUE INDEX experiments_one_running ON experiments ((stopped_at_ms IS NULL))
    WHERE stopped_at_ms IS NULL;

-- Variant ids are unique across experiments and fit 32 bits (tracked-link tokens and clicks
-- carry them); `links` counts the links the variant handed out.
CREATE TABLE experiment_variants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 4294967295),
    experiment_id INTEGER NOT NULL REFERENCES experiments (id),
    position      INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    weight        INTEGER NOT NULL,
    link_type     TEXT    NOT NULL CHECK (link_type IN ('normal', 'hot')),
    tracking_id   TEXT,
    links         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (experiment_id, position)
);

CREATE INDEX clicks_by_variant ON clicks (variant);

-- Filled at every upsert from the order's sub-ids (`cn` = `ab<id>`, `cv` = the variant);
-- NULL for orders of no experiment.
ALTER TABLE orders ADD COLUMN experiment_id INTEGER;
ALTER TABLE orders ADD COLUMN variant TEXT;
CREATE INDEX orders_by_experiment ON orders (experiment_id, variant)
    WHERE experiment_id IS NOT NULL;

-- Orders stored before this migration are attributed by the next start (in Rust, with the
-- exact parsing every upsert uses), which then deletes this marker.
INSERT INTO sync_cursors (name, value, updated_ms)
    VALUES ('migration:0003:attribute-orders', 'pending', 0);
