-- Passkeys (WebAuthn): each account's credentials, and whether its password
-- is off ("passkeys only"). Keep in step with the other dialect's migration.
CREATE TABLE passkeys (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The authenticator's credential id, base64url: unique across accounts.
    credential_id TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    -- The verifier's record (public key, signature counter, backup flags).
    credential    TEXT NOT NULL,
    backed_up     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);
CREATE INDEX passkeys_by_account ON passkeys (account_id, created_at);
ALTER TABLE accounts ADD COLUMN passwordless BOOLEAN NOT NULL DEFAULT FALSE;
