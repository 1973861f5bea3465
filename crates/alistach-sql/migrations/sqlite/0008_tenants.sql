-- Tenants, their API keys and the audit log of admin actions. Times in Unix milliseconds.
-- `settings` is the service's JSON document, kept as given; `source` says whether the config
-- file or the API defined the tenant. A key is stored only as the SHA-256 digest of the key;
-- its row outlives its tenant (revoked), so an audit entry naming it can still be read, hence
-- no foreign key to `tenants`.
CREATE TABLE tenants (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    tracking_id TEXT    NOT NULL UNIQUE,
    settings    TEXT    NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('file', 'api')),
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE tenant_keys (
    id           TEXT    PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('client', 'tenant-admin')),
    digest       BLOB    NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER,
    last_used_ms INTEGER,
    revoked_ms   INTEGER
);
CREATE INDEX tenant_keys_by_tenant ON tenant_keys (tenant_id);

-- AUTOINCREMENT: ids are never reused, even once the newest entries are purged.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    actor_tenant TEXT,
    tenant       TEXT,
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    from_addr    TEXT    NOT NULL,
    status       INTEGER NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);
