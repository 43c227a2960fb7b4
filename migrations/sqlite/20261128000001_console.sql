-- The console: typed audit actors, and indexes for keyset-paginated
-- listings sorted by last activity (last use, else creation), newest first.

ALTER TABLE audit_events ADD COLUMN actor_kind TEXT;
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
