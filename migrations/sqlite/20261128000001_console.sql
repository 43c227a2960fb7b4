-- The console: typed audit actors, and indexes for keyset-paginated
-- listings sorted by last activity (last use, else creation), newest first.

ALTER TABLE audit_events ADD COLUMN actor_kind TEXT;
-- The audit page filters by each of these, newest first.
CREATE INDEX audit_events_kind ON audit_events (kind, id DESC);
CREATE INDEX audit_events_actor ON audit_events (actor, id DESC);
CREATE INDEX audit_events_subject ON audit_events (subject, id DESC);
CREATE INDEX audit_events_client ON audit_events (client_id, id DESC);

-- Browser sessions signed in before this instant are void (set when an
-- account is disabled, so re-enabling it does not revive old sessions).
ALTER TABLE accounts ADD COLUMN sessions_valid_after INTEGER;
UPDATE audit_events SET actor_kind = CASE
    WHEN actor IS NULL THEN NULL
    WHEN actor = 'system' THEN 'system'
    WHEN actor = 'cli' THEN 'cli'
    WHEN actor LIKE '%@%' THEN 'account'
    ELSE 'client' END;

-- Every unrevoked token, by last activity (the admin listing's first page).
CREATE INDEX oauth_access_tokens_activity
    ON oauth_access_tokens ((COALESCE(last_used_at, created_at)) DESC, id DESC)
    WHERE revoked_at IS NULL;
-- One subject's or one client's unrevoked tokens, by last activity.
CREATE INDEX oauth_access_tokens_subject_activity
    ON oauth_access_tokens (subject_email, (COALESCE(last_used_at, created_at)) DESC, id DESC)
    WHERE revoked_at IS NULL;
CREATE INDEX oauth_access_tokens_client_activity
    ON oauth_access_tokens (client_id, (COALESCE(last_used_at, created_at)) DESC, id DESC)
    WHERE revoked_at IS NULL;
-- Revoked and expired rows, for the status filters.
CREATE INDEX oauth_access_tokens_revoked_activity
    ON oauth_access_tokens ((COALESCE(last_used_at, created_at)) DESC, id DESC)
    WHERE revoked_at IS NOT NULL;

-- The retention pruner's lookups.
CREATE INDEX oauth_access_tokens_revoked_at ON oauth_access_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions (expiry_date);
