//! A living app for a new user: club rooms with a few messages, club posts
//! in the feed, and a direct conversation for the demo fan.

use crate::app::AppState;
use crate::auth::token::Role;
use crate::domain::Caller;
use crate::social::model::{NewConversation, NewMessage, NewPost};

/// (club, its posts, its room's messages as (supporter index, text))
type ClubDemo = (
    &'static str,
    &'static [&'static str],
    &'static [(usize, &'static str)],
);

const CLUBS: &[ClubDemo] = &[
    (
        "AS_MONACO",
        &[
            "Billets en vente pour AS Monaco – Paris Saint-Germain : rendez-vous au Stade Louis II !",
            "Le nouveau maillot domicile 2025/26 est disponible dans la boutique officielle.",
        ],
        &[
            (0, "Qui vient au Louis II samedi ?"),
            (1, "Moi ! Tribune Ouest comme d'habitude 🔴⚪"),
            (0, "On se retrouve avant le match au café du port ?"),
        ],
    ),
    (
        "PSG",
        &["Le Parc des Princes affiche complet pour le Classique. Merci à vous !"],
        &[
            (2, "Ici c'est Paris !"),
            (2, "Quelqu'un a des infos sur le déplacement à Monaco ?"),
        ],
    ),
    (
        "OL",
        &["Nouvelle collection training disponible au store de Décines."],
        &[(3, "Allez l'OL ! Qui fait le déplacement à Monaco ?")],
    ),
    (
        "OM",
        &["Droit au but : le Vélodrome vous attend pour la prochaine journée."],
        &[(3, "Le Vélodrome va trembler ce week-end !")],
    ),
];

/// Supporters who speak in the demo rooms: (email, name, club).
const SUPPORTERS: &[(&str, &str, &str)] = &[
    ("lea.demo@paiecashfan.com", "Léa Martin", "AS_MONACO"),
    ("karim.demo@paiecashfan.com", "Karim Benali", "AS_MONACO"),
    ("julie.demo@paiecashfan.com", "Julie Moreau", "PSG"),
    ("hugo.demo@paiecashfan.com", "Hugo Lambert", "OL"),
];

/// Seeds once per database (the first instance to claim it), so restarts
/// and sibling instances do not repeat the conversation.
pub async fn seed(state: &AppState, demo_fan: &str) -> anyhow::Result<()> {
    let mut tx = state.db.begin_write().await?;
    let claimed = sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ('demo_social', 'seeded', $1)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(crate::db::now_ms())
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    if claimed == 0 {
        return Ok(());
    }
    // Nobody signs in as these accounts: their password is random and unknown.
    let hash = crate::auth::password::hash(hex::encode(rand::random::<[u8; 24]>()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let social = &state.social.unlimited();
    let mut supporters = Vec::new();
    for (email, name, club) in SUPPORTERS {
        let user = state
            .auth
            .create_user(email, &hash, name, Some(club), Role::Fan, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        supporters.push(Caller {
            id: user.id.into(),
            role: Role::Fan,
            staff_club: None,
        });
    }
    let fan = Caller {
        id: demo_fan.into(),
        role: Role::Fan,
        staff_club: None,
    };
    for (club, posts, messages) in CLUBS {
        let email = format!("{}.staff.demo@paiecashfan.com", club.to_lowercase());
        let staff = state
            .auth
            .create_user(
                &email,
                &hash,
                &format!("{club} staff"),
                None,
                Role::Staff,
                Some(club),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let staff = Caller {
            id: staff.id.into(),
            role: Role::Staff,
            staff_club: Some((*club).into()),
        };
        for content in *posts {
            social
                .create_post(
                    &staff,
                    NewPost {
                        content: (*content).to_owned(),
                        image_url: None,
                        club_id: Some((*club).to_owned()),
                    },
                )
                .await?;
        }
        let mut room = None;
        for (who, text) in *messages {
            let speaker = &supporters[*who];
            let conversation = social.join_club(speaker, club).await?;
            social
                .post_message(
                    speaker,
                    NewMessage {
                        conversation_id: conversation.id.clone(),
                        message: (*text).to_owned(),
                    },
                )
                .await?;
            room = Some(conversation.id);
        }
        if *club == "AS_MONACO" && room.is_some() {
            social.join_club(&fan, club).await?;
        }
    }
    let (direct, _) = social
        .start(
            &supporters[0],
            NewConversation {
                kind: crate::social::model::NewConversationKind::Direct,
                participant_ids: vec![demo_fan.to_owned()],
                name: None,
            },
        )
        .await?;
    for text in [
        "Salut ! Tu as déjà ton billet pour samedi ?",
        "Je peux t'envoyer ta part pour l'écharpe avec le wallet 😉",
    ] {
        social
            .post_message(
                &supporters[0],
                NewMessage {
                    conversation_id: direct.id.clone(),
                    message: text.to_owned(),
                },
            )
            .await?;
    }
    Ok(())
}
