-- Passkeys (WebAuthn): each account's credentials, and whether its password
-- is off ("passkeys only"). Keep in step with the other dialect's migration.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The authenticator's credential id, base64url: unique across accounts.
    credential_id TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    -- The verifier's record (public key, signature counter, backup flags).
    credential    TEXT NOT NULL,
    backed_up     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_by_account ON passkeys (account_id, created_at);
ALTER TABLE accounts ADD COLUMN passwordless INTEGER NOT NULL DEFAULT 0;
