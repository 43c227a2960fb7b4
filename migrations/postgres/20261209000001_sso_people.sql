-- People who signed in through the SSO provider, to the console or to
-- approve a device. Keep in step with the other dialect's migration.

-- One row per person (issuer, sub): the address and name their provider
-- gave at their last sign-in, and whether the provider's groups made them
-- an admin then (re-evaluated at every sign-in; a change is audited).
CREATE TABLE sso_people (
    issuer             TEXT NOT NULL,
    sub                TEXT NOT NULL,
    email              TEXT NOT NULL,
    name               TEXT,
    is_admin           BOOLEAN NOT NULL DEFAULT FALSE,
    first_signed_in_at TIMESTAMPTZ NOT NULL,
    last_signed_in_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, sub)
);
CREATE INDEX sso_people_email ON sso_people (email);
