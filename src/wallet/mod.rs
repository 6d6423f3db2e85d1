//! The wallet: a double-entry ledger, deposits through payment providers,
//! transfers between fans.

pub mod error;
pub mod events;
pub mod ledger;
pub mod model;
pub mod money;
pub mod payments;
pub mod provider;
pub mod routes;
pub mod sales;
pub mod signup;
pub mod store;
pub mod transfers;
pub mod verify;

use std::sync::Arc;

pub use error::{ChargeError, WalletError};
pub use routes::{admin_router, payments_router, router};

use crate::db::Db;
use crate::notifications::Notifier;
use ledger::AccountIds;
use provider::Payments;

/// Deposit limits per currency, in whole units: (currency, per deposit, per day).
pub type DepositLimits = Arc<Vec<(String, i64, i64)>>;

/// The wallet core: what balances, history, transfers and deposits need.
#[derive(Clone)]
pub struct Wallet {
    db: Db,
    /// Fans' wallet ids already known, so a transfer need not look them up.
    accounts: AccountIds,
    payments: Payments,
    deposit_limits: DepositLimits,
    notifier: Notifier,
}

impl Wallet {
    pub fn new(
        db: Db,
        payments: Payments,
        deposit_limits: DepositLimits,
        notifier: Notifier,
    ) -> Self {
        Self {
            db,
            accounts: AccountIds::default(),
            payments,
            deposit_limits,
            notifier,
        }
    }

    /// Whether Stripe's webhook is configured, and its signing secret.
    pub fn stripe_webhook_secret(&self) -> Option<&str> {
        self.payments.stripe_webhook_secret.as_deref()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The deposit `method`s this deployment's providers accept.
    pub fn deposit_methods(&self) -> Vec<String> {
        self.payments.methods()
    }
}
