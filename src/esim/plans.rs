//! The plans on sale, and the admin's edits to them.

use std::sync::Arc;

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::store::{self, NewPlanRow};
use crate::infra::readmodel::{Rendered, Snapshot, Topic};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Esims {
    /// Every plan on sale, by price.
    async fn on_sale(&self) -> Result<Arc<Snapshot<Vec<Plan>>>, EsimError> {
        self.on_sale
            .get(|| store::plans_on_sale(self.db.snapshots()))
            .await
    }

    /// The plans on sale in `region` and covering `country`, rendered once
    /// per query and snapshot.
    pub async fn plans(&self, q: &PlanQuery) -> Result<Arc<Rendered>, EsimError> {
        let country = q.country.as_deref().unwrap_or("").to_ascii_uppercase();
        let region = q.region.as_deref().unwrap_or("").to_lowercase();
        let key = format!("{region}\u{1f}{country}");
        self.on_sale()
            .await?
            .rendered(&key, |all| PlanList {
                plans: all
                    .iter()
                    .filter(|p| region.is_empty() || p.region.to_lowercase() == region)
                    .filter(|p| country.is_empty() || p.countries.contains(&country))
                    .cloned()
                    .collect(),
            })
            .map_err(|e| EsimError::Internal(e.to_string()))
    }

    pub(crate) async fn load_plan(&self, id: &str) -> Result<(Plan, i64), EsimError> {
        match store::plan(self.db.reader(), id).await? {
            Some(p) if p.active => Ok((p.plan, p.price)),
            _ => Err(EsimError::NotFound("eSIM plan")),
        }
    }

    /// A plan on sale, as fans browse it.
    pub async fn plan(&self, id: &str) -> Result<Plan, EsimError> {
        self.on_sale()
            .await?
            .data
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(EsimError::NotFound("eSIM plan"))
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
        self.read.changed(Topic::Plans);
        Ok(self.load_plan(&p.id).await?.0)
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
        self.read.changed(Topic::Plans);
        Ok(store::plan(self.db.reader(), id)
            .await?
            .ok_or(EsimError::NotFound("eSIM plan"))?
            .plan)
    }
}
