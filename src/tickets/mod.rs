//! Match ticketing: events, purchases that never oversell, signed QR tickets
//! verifiable offline, the gate, transfers, refunds and ownership chains.

pub mod admin;
pub mod error;
pub mod gate;
pub mod model;
pub mod ownership;
pub mod purchase;
pub mod reads;
pub mod routes;
pub mod rules;
pub mod signing;
pub mod store;

use std::sync::Arc;

pub use error::TicketError;
pub use routes::{admin_router, keys_router, router};

use crate::db::Db;
use crate::infra::readmodel::{ReadModel, Topic, View};
use crate::notifications::Notifier;
use signing::TicketSigner;

/// The parts of the configuration ticketing obeys.
#[derive(Debug, Clone, Copy)]
pub struct TicketRules {
    /// The platform's share of each sale, in basis points.
    pub commission_bps: i64,
    /// No refund within this many hours of kickoff.
    pub refund_cutoff_hours: i64,
}

/// The ticketing core.
#[derive(Clone)]
pub struct Tickets {
    db: Db,
    signer: Arc<TicketSigner>,
    rules: TicketRules,
    notifier: Notifier,
    read: ReadModel,
    /// The matches on the list, with their categories and seats left.
    listed: View<Vec<model::Event>>,
}

impl Tickets {
    pub fn new(
        db: Db,
        signer: Arc<TicketSigner>,
        rules: TicketRules,
        notifier: Notifier,
        read: ReadModel,
    ) -> Self {
        Self {
            db,
            signer,
            rules,
            notifier,
            listed: read.view(Topic::Events),
            read,
        }
    }
}
