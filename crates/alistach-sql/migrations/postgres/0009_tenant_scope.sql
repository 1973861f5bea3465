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

-- The tenant is part of an analytics row's identity: flushes add per tenant.
ALTER TABLE analytics_usage ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE analytics_usage DROP CONSTRAINT analytics_usage_pkey;
ALTER TABLE analytics_usage
    ADD PRIMARY KEY (res, bucket_ms, tenant_id, route, client, cache, mode, status_class);

ALTER TABLE analytics_keywords ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE analytics_keywords DROP CONSTRAINT analytics_keywords_pkey;
ALTER TABLE analytics_keywords ADD PRIMARY KEY (res, bucket_ms, tenant_id, keyword);
