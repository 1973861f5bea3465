-- Usage analytics (issue 16): per-bucket aggregates of the API and MCP calls and of the
-- searched keywords. `res` is the bucket's width: 'm' (minute), 'h' (hour), 'd' (day); every
-- flush adds its minute rows to all three at once. `l0`..`l13` count calls per latency bucket
-- (the fixed bounds of alistach-domain's histogram, the last one +Inf). Times in Unix ms.
CREATE TABLE analytics_usage (
    res            TEXT    NOT NULL,
    bucket_ms      INTEGER NOT NULL,
    route          TEXT    NOT NULL,
    client         TEXT    NOT NULL,
    cache          TEXT    NOT NULL,
    mode           TEXT    NOT NULL,
    status_class   INTEGER NOT NULL,
    requests       INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    l0             INTEGER NOT NULL DEFAULT 0,
    l1             INTEGER NOT NULL DEFAULT 0,
    l2             INTEGER NOT NULL DEFAULT 0,
    l3             INTEGER NOT NULL DEFAULT 0,
    l4             INTEGER NOT NULL DEFAULT 0,
    l5             INTEGER NOT NULL DEFAULT 0,
    l6             INTEGER NOT NULL DEFAULT 0,
    l7             INTEGER NOT NULL DEFAULT 0,
    l8             INTEGER NOT NULL DEFAULT 0,
    l9             INTEGER NOT NULL DEFAULT 0,
    l10            INTEGER NOT NULL DEFAULT 0,
    l11            INTEGER NOT NULL DEFAULT 0,
    l12            INTEGER NOT NULL DEFAULT 0,
    l13            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (res, bucket_ms, route, client, cache, mode, status_class)
);

-- The searched keywords (a bounded top list per minute and instance); keyword '' holds the
-- bucket's totals over all keyword searches.
CREATE TABLE analytics_keywords (
    res          TEXT    NOT NULL,
    bucket_ms    INTEGER NOT NULL,
    keyword      TEXT    NOT NULL,
    searches     INTEGER NOT NULL,
    zero_results INTEGER NOT NULL,
    results      INTEGER NOT NULL,
    PRIMARY KEY (res, bucket_ms, keyword)
);

-- The flushes stored, so a retried flush adds nothing twice; purged with the minute rows.
CREATE TABLE analytics_flushes (
    flush_id       TEXT    PRIMARY KEY,
    last_minute_ms INTEGER NOT NULL
);
