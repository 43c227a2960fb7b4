//! API integration tests: the real server on port 0, spoken to over HTTP,
//! on SQLite + in-process state and on PostgreSQL + Redis.

mod helpers;

mod device_flow;
mod pages;
mod security;
