//! The API's chat, feed and moderation shapes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};

crate::status_enum!(
    /// `direct` (two fans), `group` (named, with an owner), `club` (a club's public room).
    ConversationKind {
        Direct = "direct",
        Group = "group",
        Club = "club",
    }
);

crate::status_enum!(
    /// Who wrote a post: a `club` (its staff) or a `fan`.
    PostKind { Club = "club", Fan = "fan" }
);

/// Longest chat message, in characters.
pub const MESSAGE_MAX: usize = 4000;
/// Longest post, in characters.
pub const POST_MAX: usize = 2000;
pub const COMMENT_MAX: usize = 1000;
/// Members of a group at most (besides club rooms, which have no limit).
pub const GROUP_MAX: usize = 100;
/// Members listed on a conversation at most; `memberCount` is the total.
pub const LISTED_MEMBERS: i64 = 100;

/// Someone shown beside what they wrote.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    pub id: String,
    pub name: String,
    /// A picture to show (a generated SVG with the initials).
    pub avatar: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub user_id: String,
    pub author: Author,
    /// The text; empty once deleted or hidden.
    pub message: String,
    pub timestamp: String,
    pub edited_at: Option<String>,
    pub deleted: bool,
    /// Hidden by a moderator.
    pub hidden: bool,
    /// Someone else's message: I have read it. Mine: every other member has.
    pub read: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ConversationKind,
    pub name: Option<String>,
    pub club_id: Option<String>,
    pub owner_id: Option<String>,
    /// Member ids (v1.0), at most 100; `memberCount` is the total.
    pub participants: Vec<String>,
    pub members: Vec<Author>,
    pub member_count: i64,
    pub last_message: Option<Message>,
    /// Messages from others after my read marker.
    pub unread_count: i64,
    pub last_read_message_id: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationAnswer {
    pub conversation: Conversation,
}

/// What a fan can start: club rooms are joined, not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewConversationKind {
    Direct,
    Group,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConversation {
    #[serde(rename = "type")]
    pub kind: NewConversationKind,
    /// The other fan of a direct conversation; a group's first members.
    pub participant_ids: Vec<String>,
    /// A group's name (1–80 characters).
    #[schema(min_length = 1, max_length = 80)]
    pub name: Option<String>,
}

impl Validate for NewConversation {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        match self.kind {
            NewConversationKind::Direct => {
                if self.participant_ids.len() != 1 {
                    c.push(
                        "participantIds",
                        "invalid_count",
                        "a direct conversation has exactly one other participant",
                    );
                }
                if self.name.is_some() {
                    c.push("name", "not_allowed", "a direct conversation has no name");
                }
            }
            NewConversationKind::Group => {
                if self.participant_ids.is_empty() || self.participant_ids.len() >= GROUP_MAX {
                    c.push(
                        "participantIds",
                        "invalid_count",
                        format!("a group starts with 1 to {} other members", GROUP_MAX - 1),
                    );
                }
                match &self.name {
                    Some(n) => c.text("name", n.trim(), 1, 80),
                    None => c.push("name", "required", "a group needs a name"),
                }
            }
        }
        for (i, p) in self.participant_ids.iter().enumerate() {
            c.text(&format!("participantIds[{i}]"), p, 1, 64);
        }
        c.finish()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMessage {
    #[schema(min_length = 1, max_length = 64)]
    pub conversation_id: String,
    /// 1–4000 characters.
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
}

impl Validate for NewMessage {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("conversationId", &self.conversation_id, 1, 64);
        c.non_blank_text("message", &self.message, MESSAGE_MAX);
        c.finish()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditMessage {
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
}

impl Validate for EditMessage {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.non_blank_text("message", &self.message, MESSAGE_MAX);
        c.finish()
    }
}

/// The answer to a posted message (v1.0: a sentence and the message).
#[derive(Serialize, ToSchema)]
pub struct SentMessage {
    #[schema(example = "Message envoyé")]
    pub message: String,
    pub data: Message,
}

#[derive(Serialize, ToSchema)]
pub struct MessageAnswer {
    pub data: Message,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// Newest first.
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100, default 20 (50 for messages).
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl Validate for PageQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.page(self.limit, None, self.cursor.as_deref());
        c.finish()
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadMarker {
    /// The last message read; the newest one when absent.
    #[schema(min_length = 1, max_length = 64)]
    pub message_id: Option<String>,
}

impl Validate for ReadMarker {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.optional_text("messageId", self.message_id.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadState {
    pub conversation_id: String,
    pub user_id: String,
    pub last_read_message_id: Option<String>,
    pub unread_count: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRef {
    #[schema(min_length = 1, max_length = 64)]
    pub user_id: String,
}

impl Validate for UserRef {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("userId", &self.user_id, 1, 64);
        c.finish()
    }
}

// Feed.

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: PostKind,
    /// The club for a club post, the fan otherwise.
    pub author: Author,
    /// Who wrote it (a club post: the staff member).
    pub user_id: String,
    pub club_id: Option<String>,
    pub content: String,
    pub image_url: Option<String>,
    pub likes: i64,
    pub comments: i64,
    /// I like it.
    pub liked: bool,
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub feed: Vec<Post>,
    pub page: i64,
    pub limit: i64,
    /// Posts in my feed altogether.
    pub total: i64,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// v1.0 paging, from 1; ignored when `cursor` is given.
    #[param(minimum = 1, maximum = 10_000)]
    pub page: Option<i64>,
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl Validate for FeedQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.page(self.limit, None, self.cursor.as_deref());
        if let Some(p) = self.page {
            c.range("page", p, 1, 10_000);
        }
        c.finish()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPost {
    /// 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub content: String,
    /// An `https://` (or `http://`) picture address.
    #[schema(max_length = 2048)]
    pub image_url: Option<String>,
    /// Post in this club's name (its staff, or an admin).
    #[schema(min_length = 1, max_length = 64)]
    pub club_id: Option<String>,
}

impl Validate for NewPost {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.non_blank_text("content", &self.content, POST_MAX);
        if let Some(url) = &self.image_url {
            let ok = url.len() <= 2048
                && reqwest::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !ok {
                c.push("imageUrl", "invalid_format", "must be an http(s) address");
            }
        }
        c.optional_text("clubId", self.club_id.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
pub struct PostAnswer {
    pub post: Post,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub author: Author,
    pub content: String,
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentPage {
    /// Oldest first.
    pub comments: Vec<Comment>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CommentAnswer {
    pub comment: Comment,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewComment {
    /// 1–1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub content: String,
}

impl Validate for NewComment {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.non_blank_text("content", &self.content, COMMENT_MAX);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LikeState {
    pub post_id: String,
    pub liked: bool,
    pub likes: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Follow {
    /// `club` or `user`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct FollowList {
    pub follows: Vec<Follow>,
}

// Moderation.

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewReport {
    /// 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

impl Validate for NewReport {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("reason", self.reason.trim(), 1, 500);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    /// `message`, `post` or `comment`.
    pub target_type: String,
    pub target_id: String,
    pub club_id: Option<String>,
    pub reporter_id: String,
    pub reason: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportAnswer {
    pub report: Report,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportList {
    pub reports: Vec<Report>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    pub user_id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct BlockList {
    pub blocks: Vec<Blocked>,
}
