//! One integration test binary: every test starts the real server on a random
//! port with a fresh database and talks HTTP to it, on SQLite and (with
//! `TEST_DATABASE_URL`) on PostgreSQL.

mod helpers;

mod ai;
mod auth;
mod crash;
mod errors;
mod esim;
mod ledger;
mod live;
mod migrations;
mod payments;
mod process;
mod reads;
mod shop;
mod social;
mod system;
mod tickets;
mod v1;
mod versions;
mod wallet;
