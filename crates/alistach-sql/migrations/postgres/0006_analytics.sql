-- Usage analytics (issue 16): per-bucket aggregates of the API and MCP calls and of the
-- searched keywords. `res` is the bucket's width: 'm' (minute), 'h' (hour), 'd' (day); every
-- flush adds its minute rows to all three at once. `l0`..`l13` count calls per latency bucket
-- (the fixed bounds of alistach-domain's histogram, the last one +Inf). Times in Unix ms.
CREATE TABLE analytics_usage (
    res            TEXT    NOT NULL,
    bucket_ms      BIGINT NOT NULL,
    route          TEXT    NOT NULL,
    client         TEXT    NOT NULL,
    cache          TEXT    NOT NULL,
    mode           TEXT    NOT NULL,
    status_class   BIGINT NOT NULL,
    requests       BIGINT NOT NULL,
    latency_sum_us BIGINT NOT NULL,
    l0             BIGINT NOT NULL DEFAULT 0,
    l1             BIGINT NOT NULL DEFAULT 0,
    l2             BIGINT NOT NULL DEFAULT 0,
    l3             BIGINT NOT NULL DEFAULT 0,
    l4             BIGINT NOT NULL DEFAULT 0,
    l5             BIGINT NOT NULL DEFAULT 0,
    l6             BIGINT NOT NULL DEFAULT 0,
    l7             BIGINT NOT NULL DEFAULT 0,
    l8             BIGINT NOT NULL DEFAULT 0,
    l9             BIGINT NOT NULL DEFAULT 0,
    l10            BIGINT NOT NULL DEFAULT 0,
    l11            BIGINT NOT NULL DEFAULT 0,
    l12            BIGINT NOT NULL DEFAULT 0,
    l13            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (res, bucket_ms, route, client, cache, mode, status_class)
);

-- The searched keywords (a bounded top list per minute and instance); keyword '' holds the
-- bucket's totals over all keyword searches.
CREATE TABLE analytics_keywords (
    res          TEXT    NOT NULL,
    bucket_ms    BIGINT NOT NULL,
    keyword      TEXT    NOT NULL,
    searches     BIGINT NOT NULL,
    zero_results BIGINT NOT NULL,
    results      BIGINT NOT NULL,
    PRIMARY KEY (res, bucket_ms, keyword)
);

-- The flushes stored, so a retried flush adds nothing twice; purged with the minute rows.
CREATE TABLE analytics_flushes (
    flush_id       TEXT    PRIMARY KEY,
    last_minute_ms BIGINT NOT NULL
);
