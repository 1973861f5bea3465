-- What the adaptive cache policy learned (CACHE_POLICY=adaptive): one bounded snapshot per
-- cache scope, in the cache crate's own versioned encoding. Times in Unix milliseconds.
CREATE TABLE cache_learning (
    name       TEXT    PRIMARY KEY,
    snapshot   BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
);
