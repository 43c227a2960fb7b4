-- Leavers cut off at the SSO provider. Keep in step with the other dialect's
-- migration.

-- For a refreshable grant of an external (SSO) subject: the refresh token
-- the provider issued at sign-in, sealed with the server secret (AES-256-GCM,
-- never stored in the clear), and when the provider last honoured it. A
-- refresh of the grant asks the provider again once this is older than
-- GATEHOUSE_SSO_RECHECK_SECS.
CREATE TABLE oauth_provider_sessions (
    grant_id              UUID PRIMARY KEY REFERENCES oauth_access_tokens (id) ON DELETE CASCADE,
    sealed_refresh_token  TEXT NOT NULL,
    checked_at            TIMESTAMPTZ NOT NULL
);
