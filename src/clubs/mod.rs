//! Football clubs: the sellers, and each fan's favourite.

pub mod routes;
pub mod store;

use serde::Serialize;
use utoipa::ToSchema;

pub use routes::router;
pub use store::{find, insert_if_absent, list};

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
