-- Grants (RFC 6749 §6 refresh). A row of oauth_access_tokens is now a grant:
-- one per device, holding the current access token and, for clients allowed
-- it, the current refresh token. Keep in step with migrations/sqlite.
--
-- `expires_at` keeps its meaning for listings and retention: the instant the
-- row stops being active if nothing else happens. For a grant with a refresh
-- token that is min(its absolute end, last refresh + idle lifetime); without
-- one, the access token's end.

-- When the current access token stops working (the grant may live on).
ALTER TABLE oauth_access_tokens ADD COLUMN access_expires_at TIMESTAMPTZ;
UPDATE oauth_access_tokens SET access_expires_at = expires_at;
-- The access token's scopes when a refresh narrowed them; NULL = the grant's.
ALTER TABLE oauth_access_tokens ADD COLUMN access_scopes TEXT;
-- The grant's absolute end, which no refresh moves.
ALTER TABLE oauth_access_tokens ADD COLUMN max_expires_at TIMESTAMPTZ;
UPDATE oauth_access_tokens SET max_expires_at = expires_at;
-- SHA-256 of the current refresh token; NULL when the client gets none.
ALTER TABLE oauth_access_tokens ADD COLUMN refresh_token_hash TEXT;
CREATE UNIQUE INDEX oauth_access_tokens_refresh_token_hash ON oauth_access_tokens (refresh_token_hash);
-- When the grant was last refreshed.
ALTER TABLE oauth_access_tokens ADD COLUMN refreshed_at TIMESTAMPTZ;

-- Refresh tokens rotated away, so presenting one again is recognised as
-- reuse (RFC 9700 §4.14.2) and ends its grant. They go with their grant.
CREATE TABLE oauth_retired_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   UUID NOT NULL REFERENCES oauth_access_tokens (id) ON DELETE CASCADE,
    retired_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_retired_refresh_tokens_grant ON oauth_retired_refresh_tokens (grant_id);

-- Per-client token settings; NULL takes the server's default.
ALTER TABLE oauth_clients ADD COLUMN refresh_allowed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth_clients ADD COLUMN access_token_ttl_secs BIGINT;
ALTER TABLE oauth_clients ADD COLUMN grant_ttl_secs BIGINT;
ALTER TABLE oauth_clients ADD COLUMN grant_idle_ttl_secs BIGINT;
ALTER TABLE oauth_clients ADD COLUMN poll_interval_secs BIGINT;
-- The CLI that ships with Gatehouse refreshes.
UPDATE oauth_clients SET refresh_allowed = TRUE WHERE client_id = 'gatehouse-cli';
