//! The plans on sale, and the admin's edits to them.

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::store::{self, NewPlanRow};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Esims {
    pub async fn plans(&self, q: &PlanQuery) -> Result<Vec<Plan>, EsimError> {
        let country = q.country.as_deref().map(str::to_ascii_uppercase);
        Ok(
            store::plans_on_sale(self.db.reader(), q.region.as_deref().unwrap_or(""))
                .await?
                .into_iter()
                .filter(|p| country.as_ref().is_none_or(|c| p.countries.contains(c)))
                .collect(),
        )
    }

    pub(crate) async fn load_plan(&self, id: &str) -> Result<(Plan, i64), EsimError> {
        match store::plan(self.db.reader(), id).await? {
            Some(p) if p.active => Ok((p.plan, p.price)),
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
        let inserted = store::insert_plan(
            tx.conn(),
            NewPlanRow {
                id: &p.id,
                name: p.name.trim(),
                region: &p.region.trim().to_lowercase(),
                countries_json: &serde_json::to_string(&p.countries)
                    .unwrap_or_else(|_| "[]".into()),
                data_mb: p.data_mb,
                validity_days: p.validity_days,
                validity_starts: p.validity_starts.as_deref().unwrap_or("first_use"),
                price,
                currency: currency.code(),
                features_json: &serde_json::to_string(&p.features.clone().unwrap_or_default())
                    .unwrap_or_else(|_| "[]".into()),
                popular: p.popular.unwrap_or(false),
                now,
            },
        )
        .await?;
        if !inserted {
            return Err(EsimError::PlanExists);
        }
        tx.commit().await?;
        self.plan(&p.id).await
    }

    pub async fn update_plan(&self, id: &str, u: UpdatePlan) -> Result<Plan, EsimError> {
        let existing = store::plan(self.db.reader(), id)
            .await?
            .ok_or(EsimError::NotFound("eSIM plan"))?;
        let currency = Currency::stored(&existing.plan.currency)?;
        let price = u
            .price
            .as_ref()
            .map(|p| p.parse(currency).map_err(|e| amount_invalid("price", e)))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        store::update_plan(tx.conn(), id, price, u.active, u.popular, now_ms()).await?;
        tx.commit().await?;
        Ok(store::plan(self.db.reader(), id)
            .await?
            .ok_or(EsimError::NotFound("eSIM plan"))?
            .plan)
    }
}
