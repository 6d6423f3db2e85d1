//! The plans on sale, and the admin's edits to them.

use sqlx::{AssertSqlSafe, Row};

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::store::*;
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Esims {
    pub async fn plans(&self, q: &PlanQuery) -> Result<Vec<Plan>, EsimError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE active = 1 AND ($1 = '' OR LOWER(region) = LOWER($1))
         ORDER BY price, id"
    )))
    .bind(q.region.as_deref().unwrap_or(""))
    .fetch_all(self.db.reader())
    .await?;
        let country = q.country.as_deref().map(str::to_ascii_uppercase);
        Ok(rows
            .iter()
            .map(plan_from_row)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(p, _, _)| p)
            .filter(|p| country.as_ref().is_none_or(|c| p.countries.contains(c)))
            .collect())
    }

    pub(crate) async fn load_plan(&self, id: &str) -> Result<(Plan, i64), EsimError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        match row.as_ref().map(plan_from_row).transpose()? {
            Some((plan, price, true)) => Ok((plan, price)),
            _ => Err(EsimError::NotFound("eSIM plan")),
        }
    }

    pub async fn plan(&self, id: &str) -> Result<Plan, EsimError> {
        Ok(self.load_plan(id).await?.0)
    }

    pub async fn create_plan(&self, p: NewPlan) -> Result<Plan, EsimError> {
        let currency = match &p.currency {
            Some(c) => Currency::parse(c).ok_or_else(|| {
                Invalid::field("currency", "unsupported_currency", "unsupported currency")
            })?,
            None => Currency::Eur,
        };
        let price = p
            .price
            .parse(currency)
            .map_err(|e| amount_invalid("price", e))?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
        "INSERT INTO esim_plans (id, name, region, countries, data_mb, validity_days, validity_starts, price, currency,
                                 features, popular, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&p.id)
    .bind(p.name.trim())
    .bind(p.region.trim().to_lowercase())
    .bind(serde_json::to_string(&p.countries).unwrap_or_else(|_| "[]".into()))
    .bind(p.data_mb)
    .bind(p.validity_days)
    .bind(p.validity_starts.as_deref().unwrap_or("first_use"))
    .bind(price)
    .bind(currency.code())
    .bind(serde_json::to_string(&p.features.unwrap_or_default()).unwrap_or_else(|_| "[]".into()))
    .bind(i64::from(p.popular.unwrap_or(false)))
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
        if inserted == 0 {
            return Err(EsimError::PlanExists);
        }
        tx.commit().await?;
        self.plan(&p.id).await
    }

    pub async fn update_plan(&self, id: &str, u: UpdatePlan) -> Result<Plan, EsimError> {
        let row = sqlx::query("SELECT currency FROM esim_plans WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(EsimError::NotFound("eSIM plan"))?;
        let currency = Currency::stored(&row.try_get::<String, _>("currency")?)?;
        let price = u
            .price
            .as_ref()
            .map(|p| p.parse(currency).map_err(|e| amount_invalid("price", e)))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
        "UPDATE esim_plans SET price = COALESCE($2, price), active = COALESCE($3, active), popular = COALESCE($4, popular),
                updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(price)
    .bind(u.active.map(i64::from))
    .bind(u.popular.map(i64::from))
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
        tx.commit().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(self.db.reader())
        .await?;
        Ok(plan_from_row(&row)?.0)
    }
}
