//! A fan's eSIMs, their activation codes, and the supplier's usage reports.

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::store::{self, Threshold, esim_with};
use crate::notifications;

impl Esims {
    /// One of the fan's eSIMs; another fan's is 404.
    pub async fn esim(&self, user_id: &str, id: &str) -> Result<Esim, EsimError> {
        esim_with(&mut *self.db.reader().acquire().await?, user_id, id).await
    }

    pub async fn my_esims(&self, user_id: &str) -> Result<Vec<Esim>, EsimError> {
        store::esims_of(self.db.reader(), user_id).await
    }

    /// v1.0's `GET /api/esim/active`: the most recent usable one.
    pub async fn active(&self, user_id: &str) -> Result<Esim, EsimError> {
        self.my_esims(user_id)
            .await?
            .into_iter()
            .find(|e| e.status.usable())
            .ok_or(EsimError::NotFound("usable eSIM"))
    }

    pub async fn activation_code(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<ActivationCodeResponse, EsimError> {
        let e = self.esim(user_id, id).await?;
        match (e.iccid, e.activation_code, e.smdp_address, e.matching_id) {
            (Some(iccid), Some(code), Some(smdp), Some(matching)) => Ok(ActivationCodeResponse {
                esim_id: e.id,
                iccid,
                activation_code: code,
                smdp_address: smdp,
                matching_id: matching,
            }),
            _ => Err(EsimError::NotReady(e.status.to_string())),
        }
    }

    /// Applies a verified supplier event. Returns false for a duplicate delivery.
    pub async fn usage_event(&self, provider: &str, ev: &UsageEvent) -> Result<bool, EsimError> {
        let now = now_ms();
        let first_used = match &ev.first_used_at {
            Some(t) => Some(crate::tickets::model::parse_time("firstUsedAt", t)?),
            None => None,
        };
        if ev.used_mb.is_some_and(|u| !(0..=100_000_000).contains(&u)) {
            return Err(Invalid::field(
                "usedMb",
                "out_of_range",
                "must be between 0 and 100000000",
            )
            .into());
        }
        let mut tx = self.db.begin_write().await?;
        if !store::first_delivery(tx.conn(), provider, &ev.event_id, now).await? {
            return Ok(false);
        }
        let Some((id, user_id)) = store::by_iccid(tx.conn(), provider, &ev.iccid).await? else {
            tracing::warn!(event = %ev.event_id, "eSIM event for an unknown profile ignored");
            tx.commit().await?;
            return Ok(true);
        };
        store::record_usage(
            tx.conn(),
            &id,
            ev.used_mb.unwrap_or(0),
            first_used.or(ev.used_mb.filter(|u| *u > 0).map(|_| now)),
            ev.status.as_deref() == Some("expired"),
            now,
        )
        .await?;
        // Each threshold is announced once: only the update that flips its flag notifies.
        let mut notes = Vec::new();
        for (threshold, pct, title) in [
            (Threshold::Eighty, 80, "80% of your eSIM data used"),
            (Threshold::Hundred, 100, "Your eSIM data is used up"),
        ] {
            let crossed = store::crossed(tx.conn(), &id, threshold).await?;
            if crossed {
                notes.push(
                    notifications::notify(
                        tx.conn(),
                        &user_id,
                        "esim.usage",
                        title,
                        &format!("{pct}% of the data of your travel eSIM is used."),
                        Some(serde_json::json!({"esimId": id, "percent": pct})),
                    )
                    .await?,
                );
            }
        }
        tx.commit().await?;
        for n in &notes {
            self.notifier.publish(&user_id, n);
        }
        Ok(true)
    }
}
