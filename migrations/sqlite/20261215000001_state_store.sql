-- The PostgreSQL state store's tables (the other dialect's migration of
-- this version). SQLite always runs with the in-process state store, so
-- there is nothing to create here; the version keeps both dialects in step.
SELECT 1;
