-- Webhooks: the endpoints events go to, the outbox of events, each delivery of an event to an
-- endpoint, and every attempt of a delivery.
-- Times in Unix milliseconds; `events` is the endpoint's event types joined by commas; the
-- signing secret is stored as given (only the dispatcher uses it; it is never shown).
CREATE TABLE webhook_endpoints (
    id               BIGSERIAL PRIMARY KEY,
    url              TEXT    NOT NULL,
    events           TEXT    NOT NULL,
    description      TEXT,
    secret           TEXT    NOT NULL,
    enabled          BOOLEAN NOT NULL,
    disabled_reason  TEXT,
    failing_since_ms BIGINT,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL
);

-- An event is kept once per id: publishing an id seen before does nothing.
CREATE TABLE webhook_events (
    id           TEXT    PRIMARY KEY,
    event_type   TEXT    NOT NULL,
    timestamp_ms BIGINT  NOT NULL,
    payload      TEXT    NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                 BIGSERIAL PRIMARY KEY,
    endpoint_id        BIGINT  NOT NULL REFERENCES webhook_endpoints (id),
    event_id           TEXT    NOT NULL REFERENCES webhook_events (id),
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT,
    created_at_ms      BIGINT  NOT NULL,
    delivered_at_ms    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT  NOT NULL REFERENCES webhook_deliveries (id),
    at_ms       BIGINT  NOT NULL,
    status      BIGINT,
    latency_ms  BIGINT  NOT NULL,
    error       TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
