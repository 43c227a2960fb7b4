-- Signed audit webhooks (GATEHOUSE_AUDIT_WEBHOOK_URL). Keep in step with the
-- other dialect's migration.

-- The audit events not yet delivered to the webhook, written in the same
-- transaction as the event (only while a webhook is configured) and
-- deleted once the receiver answered 2xx. Delivered in event order; a
-- failed delivery waits until next_attempt_at (exponential backoff) and
-- holds back the events after it, so each subject's events arrive in order.
CREATE TABLE audit_outbox (
    event_id        BIGINT PRIMARY KEY NOT NULL REFERENCES audit_events (id) ON DELETE CASCADE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT
);

-- Which instance delivers (one at a time, so order holds): a lease it
-- renews while it works, taken over by another once it lapses.
CREATE TABLE audit_outbox_lease (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    holder     TEXT NOT NULL,
    held_until TIMESTAMPTZ NOT NULL
);
INSERT INTO audit_outbox_lease (id, holder, held_until) VALUES (1, '', '1970-01-01T00:00:00Z');
