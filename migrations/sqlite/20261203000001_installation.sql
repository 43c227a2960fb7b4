-- Facts about the installation that every instance must agree on, by name.
-- `secret_fingerprint`: an HMAC of the server secret (never the secret), so
-- an instance started with another secret refuses to start.
CREATE TABLE installation (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
