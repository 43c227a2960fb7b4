-- DPoP (RFC 9449). Keep in step with the other dialect's migration.

-- The JWK SHA-256 thumbprint (RFC 7638) of the key a grant's access and
-- refresh tokens are bound to; NULL for bearer grants.
ALTER TABLE oauth_access_tokens ADD COLUMN dpop_jkt TEXT;

-- Whether a client's tokens are DPoP-bound: 'off' (bearer only, proofs
-- ignored), 'allowed' (bound when the client sends a proof) or 'required'.
ALTER TABLE oauth_clients ADD COLUMN dpop_mode TEXT NOT NULL DEFAULT 'allowed'
    CHECK (dpop_mode IN ('off', 'allowed', 'required'));
