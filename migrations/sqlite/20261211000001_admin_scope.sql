-- The admin REST API's scope (/v1/admin/…). Keep in step with the other
-- dialect's migration.
--
-- Anyone may be asked for it, but only an admin can approve a request for
-- it, and every call re-checks that its holder is an admin still; `full`
-- never covers it. The shipped CLI client may ask for it
-- (`gatehouse login --scope admin`).
INSERT INTO oauth_scopes (name, description, holders, built_in, created_at) VALUES
    ('admin', 'Administer Gatehouse: clients, accounts, everyone''s authorized devices and the audit log', 'everyone', 1, CAST(strftime('%s', 'now') AS INTEGER) + 3)
    -- A scope an operator had named so before now means this.
    ON CONFLICT (name) DO UPDATE SET description = excluded.description, holders = excluded.holders,
        built_in = excluded.built_in;

UPDATE oauth_clients SET allowed_scopes = allowed_scopes || ' admin'
    WHERE client_id = 'gatehouse-cli' AND (' ' || allowed_scopes || ' ') NOT LIKE '% admin %';
