//! A fan's eSIMs, their activation codes, and the supplier's usage reports.

use sqlx::{AssertSqlSafe, Row};

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::store::*;
use crate::notifications;

impl Esims {
    /// One of the fan's eSIMs; another fan's is 404.
    pub async fn esim(&self, user_id: &str, id: &str) -> Result<Esim, EsimError> {
        esim_with(&mut *self.db.reader().acquire().await?, user_id, id).await
    }

    pub async fn my_esims(&self, user_id: &str) -> Result<Vec<Esim>, EsimError> {
        let now = now_ms();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{ESIM_SQL} WHERE e.user_id = $1 ORDER BY e.id DESC"
        )))
        .bind(user_id)
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| esim_from_row(r, now))
            .collect::<Result<_, _>>()?)
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
        let fresh = sqlx::query(
            "INSERT INTO esim_webhook_events (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(provider)
        .bind(&ev.event_id)
        .bind(now)
        .execute(tx.conn())
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Ok(false);
        }
        let row = sqlx::query("SELECT id, user_id FROM esims WHERE provider = $1 AND iccid = $2")
            .bind(provider)
            .bind(&ev.iccid)
            .fetch_optional(tx.conn())
            .await?;
        let Some(row) = row else {
            tracing::warn!(event = %ev.event_id, "eSIM event for an unknown profile ignored");
            tx.commit().await?;
            return Ok(true);
        };
        let id: String = row.try_get("id")?;
        let user_id: String = row.try_get("user_id")?;
        // Usage only grows; the first use starts the clock of first-use plans;
        // a profile that used all its data is depleted.
        sqlx::query(
        "UPDATE esims SET
            data_used_mb = CASE WHEN $2 > data_used_mb THEN $2 ELSE data_used_mb END,
            first_used_at = COALESCE(first_used_at, $3),
            expires_at = CASE WHEN expires_at IS NULL AND validity_starts = 'first_use' AND COALESCE(first_used_at, $3) IS NOT NULL
                              THEN COALESCE(first_used_at, $3) + validity_days * $4 ELSE expires_at END,
            status = CASE WHEN status = 'ready' AND ($3 IS NOT NULL OR $2 > 0) THEN 'active' ELSE status END,
            updated_at = $5
         WHERE id = $1 AND status IN ('ready', 'active', 'depleted')",
    )
    .bind(&id)
    .bind(ev.used_mb.unwrap_or(0))
    .bind(first_used.or(ev.used_mb.filter(|u| *u > 0).map(|_| now)))
    .bind(DAY_MS)
    .bind(now)
    .execute(tx.conn())
    .await?;
        sqlx::query(
        "UPDATE esims SET status = 'depleted', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active') AND data_total_mb IS NOT NULL AND data_used_mb >= data_total_mb",
    )
    .bind(&id)
    .bind(now)
    .execute(tx.conn())
    .await?;
        let expired_by_supplier = ev.status.as_deref() == Some("expired");
        sqlx::query(
        "UPDATE esims SET status = 'expired', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active') AND ($3 = 1 OR (expires_at IS NOT NULL AND expires_at <= $2))",
    )
    .bind(&id)
    .bind(now)
    .bind(i64::from(expired_by_supplier))
    .execute(tx.conn())
    .await?;
        // Each threshold is announced once: only the update that flips its flag notifies.
        let mut notes = Vec::new();
        for (flag, pct, title) in [
            ("notified_80", 80, "80% of your eSIM data used"),
            ("notified_100", 100, "Your eSIM data is used up"),
        ] {
            let crossed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE esims SET {flag} = 1 WHERE id = $1 AND {flag} = 0 AND data_total_mb IS NOT NULL
             AND data_used_mb * 100 >= data_total_mb * {pct}"
        )))
            .bind(&id)
            .execute(tx.conn())
            .await?
            .rows_affected()
                == 1;
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
