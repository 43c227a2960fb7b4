-- Approval policies (RFC 10027): each client's, as one JSON document the
-- core reads with defaults for what it leaves out, and the evidence each
-- grant's approval was judged on. Keep in step with the other dialect's
-- migration.
--
-- '{}' is the default policy: warn only, with one person per code on.
ALTER TABLE oauth_clients ADD COLUMN approval_policy TEXT NOT NULL DEFAULT '{}';
-- NULL for grants from before it, and for client_credentials grants.
ALTER TABLE oauth_access_tokens ADD COLUMN approval_evidence TEXT;
-- Whether the approval crossed networks, for the admin list's filter.
ALTER TABLE oauth_access_tokens ADD COLUMN approval_proximity TEXT;
