//! Football clubs: the sellers, and each fan's favourite.

pub mod routes;
pub mod store;

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

pub use routes::router;
pub use store::insert_if_absent;

use crate::db::Db;
use crate::infra::readmodel::{ReadModel, Rendered, Snapshot, Topic, View};

/// The clubs as fans browse them, from memory.
#[derive(Clone)]
pub struct Clubs {
    db: Db,
    all: View<Vec<Club>>,
}

impl Clubs {
    pub fn new(db: Db, read: &ReadModel) -> Clubs {
        Clubs {
            db,
            all: read.view(Topic::Clubs),
        }
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot<Vec<Club>>>, sqlx::Error> {
        self.all.get(|| store::list(self.db.snapshots())).await
    }

    /// Every club, by name, rendered once per snapshot.
    pub async fn list(&self) -> Result<Arc<Rendered>, crate::error::ApiError> {
        self.snapshot()
            .await?
            .rendered("", |clubs| ClubList {
                clubs: clubs.clone(),
            })
            .map_err(|e| crate::error::ApiError::Internal(e.into()))
    }

    pub async fn find(&self, id: &str) -> Result<Option<Club>, sqlx::Error> {
        Ok(self
            .snapshot()
            .await?
            .data
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Club {
    #[schema(example = "AS_MONACO")]
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub league: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 4217 currency the club sells in.
    pub currency: String,
    pub colors: ClubColors,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClubColors {
    pub primary: String,
    pub secondary: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClubList {
    pub clubs: Vec<Club>,
}

#[derive(Serialize, ToSchema)]
pub struct ClubResponse {
    pub club: Club,
}

pub struct NewClub<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub short_name: &'a str,
    pub league: &'a str,
    pub country: &'a str,
    pub currency: &'a str,
    pub primary_color: &'a str,
    pub secondary_color: &'a str,
}
