-- Subjects keyed by (issuer, sub), not by email. Keep in step with the other
-- dialect's migration.

-- A grant's subject as its issuer names it: a local account's id, or the
-- SSO provider's `sub`. The email stays beside it as an attribute.
ALTER TABLE oauth_access_tokens ADD COLUMN subject_id TEXT;

-- Local accounts carry over exactly. External grants minted before this
-- were keyed by email alone and nothing recorded their `sub`: they stay
-- NULL (working, listed, revocable by an admin by email) until the next
-- sign-in with that verified email at that issuer claims them.
UPDATE oauth_access_tokens SET subject_id = account_id::text WHERE account_id IS NOT NULL;

-- At most one active grant per subject and device (SPEC §4 rotation).
DROP INDEX oauth_access_tokens_one_active_per_device;
CREATE UNIQUE INDEX oauth_access_tokens_one_active_per_device
    ON oauth_access_tokens (subject_issuer, subject_id, client_id, device_label)
    WHERE revoked_at IS NULL;
-- A subject's own grants; the unclaimed ones an SSO sign-in claims.
CREATE INDEX oauth_access_tokens_subject
    ON oauth_access_tokens (subject_issuer, subject_id)
    WHERE revoked_at IS NULL;
