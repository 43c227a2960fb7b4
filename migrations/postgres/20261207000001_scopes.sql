-- The operator's scope registry. Keep in step with the other dialect's
-- migration.

-- A scope: its name as clients request it, the plain words the approval
-- page shows for it, and which kinds of subject may hold it: local
-- accounts, people signed in through the SSO provider, or everyone.
CREATE TABLE oauth_scopes (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    holders     TEXT NOT NULL CHECK (holders IN ('accounts', 'external', 'everyone')),
    built_in    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- The three scopes Gatehouse has always had, a second apart so they list
-- in this order. `full` stands for everything
-- an account may do, so SSO people never hold it.
INSERT INTO oauth_scopes (name, description, holders, built_in, created_at) VALUES
    ('full', 'Act as you: everything your account can do, in all your workspaces', 'accounts', TRUE, now()),
    ('apps:run', 'Run apps you have access to', 'everyone', TRUE, now() + interval '1 second'),
    ('apps:read:permitted-external', 'See the apps shared with external users', 'everyone', TRUE, now() + interval '2 seconds');
