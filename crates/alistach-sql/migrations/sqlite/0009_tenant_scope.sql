-- Tenant scope: experiments, webhook endpoints and events, watches and the usage analytics
-- rows belong to a tenant (`tenant_id`, a tenant's id as text). Every row stored before
-- tenants is the implicit tenant's, 'default'; the column keeps that default, so a build
-- from before tenants still running during a rolling upgrade writes rows of 'default'.
-- Orders and clicks are a tenant's by their tracking id (the `tenants` table of migration 8),
-- so they get no column; order events are the tenant's whose tracking id is the order's.

-- At most one experiment runs per tenant (it was one in all), whichever instance creates it.
ALTER TABLE experiments ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
DROP INDEX experiments_one_running;
CREATE UNIQUE INDEX experiments_one_running ON experiments (tenant_id)
    WHERE stopped_at_ms IS NULL;

-- An endpoint receives only its tenant's events.
ALTER TABLE webhook_endpoints ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, id);
ALTER TABLE webhook_events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';

ALTER TABLE watches ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX watches_by_tenant ON watches (tenant_id, id);

-- The tenant is part of an analytics row's identity: flushes add per tenant. SQLite cannot
-- change a primary key, so the tables are rebuilt with their rows.
CREATE TABLE analytics_usage_v9 (
    res            TEXT    NOT NULL,
    bucket_ms      INTEGER NOT NULL,
    tenant_id      TEXT    NOT NULL DEFAULT 'default',
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
    PRIMARY KEY (res, bucket_ms, tenant_id, route, client, cache, mode, status_class)
);
INSERT INTO analytics_usage_v9 (res, bucket_ms, tenant_id, route, client, cache, mode,
    status_class, requests, latency_sum_us, l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11,
    l12, l13)
    SELECT res, bucket_ms, 'default', route, client, cache, mode, status_class, requests,
        latency_sum_us, l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12, l13
    FROM analytics_usage;
DROP TABLE analytics_usage;
ALTER TABLE analytics_usage_v9 RENAME TO analytics_usage;

CREATE TABLE analytics_keywords_v9 (
    res          TEXT    NOT NULL,
    bucket_ms    INTEGER NOT NULL,
    tenant_id    TEXT    NOT NULL DEFAULT 'default',
    keyword      TEXT    NOT NULL,
    searches     INTEGER NOT NULL,
    zero_results INTEGER NOT NULL,
    results      INTEGER NOT NULL,
    PRIMARY KEY (res, bucket_ms, tenant_id, keyword)
);
INSERT INTO analytics_keywords_v9 (res, bucket_ms, tenant_id, keyword, searches,
    zero_results, results)
    SELECT res, bucket_ms, 'default', keyword, searches, zero_results, results
    FROM analytics_keywords;
DROP TABLE analytics_keywords;
ALTER TABLE analytics_keywords_v9 RENAME TO analytics_keywords;
