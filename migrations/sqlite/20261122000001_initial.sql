-- Gatehouse schema, SQLite flavour. Ids are UUID text, instants are Unix
-- seconds. Keep in step with migrations/postgres (same versions).

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled_at   INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, workspace_id)
);

CREATE TABLE oauth_clients (
    client_id            TEXT PRIMARY KEY NOT NULL,
    name                 TEXT NOT NULL,
    client_type          TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    secret_hash          TEXT,
    allowed_scopes       TEXT NOT NULL,
    device_grant_enabled INTEGER NOT NULL DEFAULT 1,
    disabled_at          INTEGER,
    created_at           INTEGER NOT NULL
);

CREATE TABLE oauth_access_tokens (
    id             TEXT PRIMARY KEY NOT NULL,
    subject_email  TEXT NOT NULL,
    subject_issuer TEXT NOT NULL,
    account_id     TEXT REFERENCES accounts (id),
    client_id      TEXT NOT NULL REFERENCES oauth_clients (client_id),
    -- '' when the device reported no label, so the unique index below holds
    -- (NULLs never collide in a unique index).
    device_label   TEXT NOT NULL DEFAULT '',
    prefix         TEXT NOT NULL,
    token_hash     TEXT UNIQUE,
    scopes         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    last_used_ip   TEXT,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);

-- At most one active token per device (SPEC §4 rotation).
CREATE UNIQUE INDEX oauth_access_tokens_one_active_per_device
    ON oauth_access_tokens (subject_email, subject_issuer, client_id, device_label)
    WHERE revoked_at IS NULL;
CREATE INDEX oauth_access_tokens_account ON oauth_access_tokens (account_id);
CREATE INDEX oauth_access_tokens_expires ON oauth_access_tokens (expires_at);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT,
    subject     TEXT,
    client_id   TEXT,
    ip          TEXT,
    details     TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

-- Browser sessions, in the layout tower-sessions-sqlx-store reads and writes.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);
