-- The PostgreSQL state store, used when no Redis is configured
-- (docs/operations.md, "PostgreSQL alone"): in-flight device flows,
-- single-use records and the rate limiters' arrival times, shared by every
-- instance. Logged tables, so a failover keeps them. Rows past their time
-- read as absent and are swept in batches. Keep the other dialect's
-- migration of this version in step (it has no state tables).

-- A flow's value (the flow as `flow_blob` stores it: its base interval, no
-- poll time) beside its poll clock and `slow_down` count, so a poll moves
-- the clock without rewriting the value. Room left on each page, so those
-- updates stay on the page (no indexed column changes).
CREATE TABLE state_flows (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    -- The flow's own client: only its polls move the clock.
    client_id        TEXT NOT NULL,
    flow             BYTEA NOT NULL,
    polled_at        TIMESTAMPTZ,
    slow_downs       INTEGER NOT NULL DEFAULT 0,
    retain_until     TIMESTAMPTZ NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX state_flows_by_retention ON state_flows (retain_until);

-- SSO sign-ins in progress, approval grants, passkey ceremonies, DPoP proofs.
CREATE TABLE state_single_use (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX state_single_use_by_expiry ON state_single_use (expires_at);

-- Each limiter key's GCRA theoretical arrival time, epoch milliseconds. Not
-- indexed by time (every check rewrites it); the sweep walks the table.
CREATE TABLE state_rate_limits (
    key     TEXT PRIMARY KEY,
    arrival DOUBLE PRECISION NOT NULL
) WITH (fillfactor = 70);
