//! Chat, feed and moderation over HTTP.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, OptionalJson, RequestAuth};
use crate::social::Social;
use crate::social::model::*;
use crate::social::moderation::Target;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Social: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(conversations, start_conversation))
        .routes(routes!(conversation))
        .routes(routes!(history))
        .routes(routes!(mark_read))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
        .routes(routes!(join_club))
        .routes(routes!(leave_club))
        .routes(routes!(send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(report_message))
        .routes(routes!(hide_message))
        .routes(routes!(feed))
        .routes(routes!(create_post))
        .routes(routes!(post, delete_post))
        .routes(routes!(like, unlike))
        .routes(routes!(comments, comment))
        .routes(routes!(delete_comment))
        .routes(routes!(report_post))
        .routes(routes!(hide_post))
        .routes(routes!(report_comment))
        .routes(routes!(hide_comment))
        .routes(routes!(follow_club, unfollow_club))
        .routes(routes!(follow_user, unfollow_user))
        .routes(routes!(follows))
        .routes(routes!(blocks, block))
        .routes(routes!(unblock))
        .routes(routes!(reports))
        .routes(routes!(avatar))
}

/// My conversations, most recently active first, each with its last message
/// and my unread count.
#[utoipa::path(get, path = "/conversations", tag = "social", params(PageQuery),
    security(("bearerAuth" = [])),
    responses((status = 200, body = ConversationList)))]
async fn conversations(
    State(social): State<Social>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<ConversationList>> {
    Ok(Json(social.conversations(&user, &q).await?))
}

/// Starts a direct conversation (200 with the existing one when the pair
/// already has one) or a group I own (201).
#[utoipa::path(post, path = "/conversations", tag = "social", request_body = NewConversation,
    security(("bearerAuth" = [])),
    responses((status = 201, body = ConversationAnswer), (status = 200, body = ConversationAnswer),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn start_conversation(
    State(social): State<Social>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewConversation>,
) -> ApiResult<Response> {
    let (conversation, created) = social.start(&user, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ConversationAnswer { conversation })).into_response())
}

/// One of my conversations (404 when I am not a member).
#[utoipa::path(get, path = "/conversations/{id}", tag = "social",
    params(("id" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 200, body = ConversationAnswer), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn conversation(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationAnswer>> {
    Ok(Json(ConversationAnswer {
        conversation: social.conversation(&user, &id).await?,
    }))
}

/// A conversation's messages, newest first; `nextCursor` pages to older
/// ones and stays valid while new messages arrive.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "social",
    params(("id" = String, Path), PageQuery), security(("bearerAuth" = [])),
    responses((status = 200, body = MessagePage), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn history(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    Ok(Json(social.history(&user, &id, &q).await?))
}

/// Moves my read marker (to `messageId`, or the newest message); it never
/// moves back.
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "social", operation_id = "mark_conversation_read",
    params(("id" = String, Path)), request_body(content = Option<ReadMarker>),
    security(("bearerAuth" = [])),
    responses((status = 200, body = ReadState), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn mark_read(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<ReadMarker>,
) -> ApiResult<Json<ReadState>> {
    Ok(Json(social.mark_read(&user, &id, input).await?))
}

/// The owner adds a member to a group.
#[utoipa::path(post, path = "/conversations/{id}/members", tag = "social",
    params(("id" = String, Path)), request_body = UserRef, security(("bearerAuth" = [])),
    responses((status = 200, body = ConversationAnswer),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn add_member(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UserRef>,
) -> ApiResult<Json<ConversationAnswer>> {
    Ok(Json(ConversationAnswer {
        conversation: social.add_member(&user, &id, &input.user_id).await?,
    }))
}

/// The owner removes a member of a group; any member removes themselves
/// (leaves a group or a club room).
#[utoipa::path(delete, path = "/conversations/{id}/members/{userId}", tag = "social",
    params(("id" = String, Path), ("userId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_member(
    State(social): State<Social>,
    user: AuthUser,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    social.remove_member(&user, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Joins a club's public room.
#[utoipa::path(post, path = "/clubs/{clubId}/join", tag = "social",
    params(("clubId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 200, body = ConversationAnswer), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn join_club(
    State(social): State<Social>,
    user: AuthUser,
    Path(club): Path<String>,
) -> ApiResult<Json<ConversationAnswer>> {
    Ok(Json(ConversationAnswer {
        conversation: social.join_club(&user, &club).await?,
    }))
}

/// Leaves a club's public room.
#[utoipa::path(post, path = "/clubs/{clubId}/leave", tag = "social",
    params(("clubId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn leave_club(
    State(social): State<Social>,
    user: AuthUser,
    Path(club): Path<String>,
) -> ApiResult<StatusCode> {
    social.leave_club(&user, &club).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Posts a message into one of my conversations (v1.0).
#[utoipa::path(post, path = "/messages", tag = "social", request_body = NewMessage,
    security(("bearerAuth" = [])),
    responses((status = 201, body = SentMessage),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn send_message(
    State(social): State<Social>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    let data = social.post_message(&user, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(SentMessage {
            message: "Message envoyé".into(),
            data,
        }),
    ))
}

/// Edits my message.
#[utoipa::path(patch, path = "/messages/{id}", tag = "social", params(("id" = String, Path)),
    request_body = EditMessage, security(("bearerAuth" = [])),
    responses((status = 200, body = MessageAnswer),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn edit_message(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EditMessage>,
) -> ApiResult<Json<MessageAnswer>> {
    Ok(Json(MessageAnswer {
        data: social.edit_message(&user, &id, input).await?,
    }))
}

/// Deletes my message.
#[utoipa::path(delete, path = "/messages/{id}", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_message(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.delete_message(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report_answer(
    social: &Social,
    user: &AuthUser,
    target: Target,
    id: &str,
    input: NewReport,
) -> ApiResult<Response> {
    let (report, created) = social.report(user, target, id, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ReportAnswer { report })).into_response())
}

/// Reports a message for the moderators (201; 200 with the first report
/// when I already reported it).
#[utoipa::path(post, path = "/messages/{id}/report", tag = "social", params(("id" = String, Path)),
    request_body = NewReport, security(("bearerAuth" = [])),
    responses((status = 201, body = ReportAnswer), (status = 200, body = ReportAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn report_message(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewReport>,
) -> ApiResult<Response> {
    report_answer(&social, &user, Target::Message, &id, input).await
}

/// Hides a message (staff of the club whose room it is in, or an admin).
#[utoipa::path(post, path = "/messages/{id}/hide", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn hide_message(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.hide(&user, Target::Message, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My feed (v1.0 `page` and `limit`, or `cursor`): posts of my club, of the
/// clubs and fans I follow, and mine; newest first, lively posts boosted.
#[utoipa::path(get, path = "/feed", tag = "social", params(FeedQuery),
    security(("bearerAuth" = [])), responses((status = 200, body = Feed)))]
async fn feed(
    State(social): State<Social>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<Feed>> {
    Ok(Json(social.feed(&user, &q).await?))
}

/// Posts to the feed: as a fan, or in a club's name (`clubId`, its staff).
#[utoipa::path(post, path = "/posts", tag = "social", request_body = NewPost,
    security(("bearerAuth" = [])),
    responses((status = 201, body = PostAnswer), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn create_post(
    State(social): State<Social>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewPost>,
) -> ApiResult<(StatusCode, Json<PostAnswer>)> {
    let post = social.create_post(&user, input).await?;
    Ok((StatusCode::CREATED, Json(PostAnswer { post })))
}

/// One post.
#[utoipa::path(get, path = "/posts/{id}", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 200, body = PostAnswer), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn post(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PostAnswer>> {
    Ok(Json(PostAnswer {
        post: social.post(&user, &id).await?,
    }))
}

/// Deletes my post.
#[utoipa::path(delete, path = "/posts/{id}", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_post(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.delete_post(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Likes a post (a second like changes nothing).
#[utoipa::path(post, path = "/posts/{id}/like", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 200, body = LikeState), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn like(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeState>> {
    Ok(Json(social.like(&user, &id, true).await?))
}

/// Takes my like back.
#[utoipa::path(delete, path = "/posts/{id}/like", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 200, body = LikeState), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn unlike(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LikeState>> {
    Ok(Json(social.like(&user, &id, false).await?))
}

/// A post's comments, oldest first.
#[utoipa::path(get, path = "/posts/{id}/comments", tag = "social",
    params(("id" = String, Path), PageQuery), security(("bearerAuth" = [])),
    responses((status = 200, body = CommentPage), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn comments(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<CommentPage>> {
    Ok(Json(social.comments(&user, &id, &q).await?))
}

/// Comments on a post.
#[utoipa::path(post, path = "/posts/{id}/comments", tag = "social", params(("id" = String, Path)),
    request_body = NewComment, security(("bearerAuth" = [])),
    responses((status = 201, body = CommentAnswer),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn comment(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<CommentAnswer>)> {
    let comment = social.comment(&user, &id, input).await?;
    Ok((StatusCode::CREATED, Json(CommentAnswer { comment })))
}

/// Deletes my comment.
#[utoipa::path(delete, path = "/comments/{id}", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_comment(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.delete_comment(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports a post.
#[utoipa::path(post, path = "/posts/{id}/report", tag = "social", params(("id" = String, Path)),
    request_body = NewReport, security(("bearerAuth" = [])),
    responses((status = 201, body = ReportAnswer), (status = 200, body = ReportAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn report_post(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewReport>,
) -> ApiResult<Response> {
    report_answer(&social, &user, Target::Post, &id, input).await
}

/// Hides a post (staff of its club, or of its author's club; admins).
#[utoipa::path(post, path = "/posts/{id}/hide", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn hide_post(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.hide(&user, Target::Post, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports a comment.
#[utoipa::path(post, path = "/comments/{id}/report", tag = "social", params(("id" = String, Path)),
    request_body = NewReport, security(("bearerAuth" = [])),
    responses((status = 201, body = ReportAnswer), (status = 200, body = ReportAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn report_comment(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewReport>,
) -> ApiResult<Response> {
    report_answer(&social, &user, Target::Comment, &id, input).await
}

/// Hides a comment (staff of the post's club, or admins).
#[utoipa::path(post, path = "/comments/{id}/hide", tag = "social", params(("id" = String, Path)),
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn hide_comment(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.hide(&user, Target::Comment, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follows a club: its posts come into my feed.
#[utoipa::path(post, path = "/clubs/{clubId}/follow", tag = "social",
    params(("clubId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn follow_club(
    State(social): State<Social>,
    user: AuthUser,
    Path(club): Path<String>,
) -> ApiResult<StatusCode> {
    social.follow(&user, "club", &club, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops following a club.
#[utoipa::path(delete, path = "/clubs/{clubId}/follow", tag = "social",
    params(("clubId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn unfollow_club(
    State(social): State<Social>,
    user: AuthUser,
    Path(club): Path<String>,
) -> ApiResult<StatusCode> {
    social.follow(&user, "club", &club, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follows a fan: their posts come into my feed.
#[utoipa::path(post, path = "/users/{userId}/follow", tag = "social",
    params(("userId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn follow_user(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.follow(&user, "user", &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops following a fan.
#[utoipa::path(delete, path = "/users/{userId}/follow", tag = "social",
    params(("userId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn unfollow_user(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.follow(&user, "user", &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The clubs and fans I follow.
#[utoipa::path(get, path = "/follows", tag = "social", security(("bearerAuth" = [])),
    responses((status = 200, body = FollowList)))]
async fn follows(State(social): State<Social>, user: AuthUser) -> ApiResult<Json<FollowList>> {
    Ok(Json(social.follows(&user).await?))
}

/// The fans I blocked.
#[utoipa::path(get, path = "/blocks", tag = "social", security(("bearerAuth" = [])),
    responses((status = 200, body = BlockList)))]
async fn blocks(State(social): State<Social>, user: AuthUser) -> ApiResult<Json<BlockList>> {
    Ok(Json(social.blocks(&user).await?))
}

/// Blocks a fan: no direct message, group invitation or comment from them
/// reaches me, and their posts and comments are hidden from me.
#[utoipa::path(post, path = "/blocks", tag = "social", request_body = UserRef,
    security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn block(
    State(social): State<Social>,
    user: AuthUser,
    ApiJson(input): ApiJson<UserRef>,
) -> ApiResult<StatusCode> {
    social.block(&user, &input.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblocks a fan.
#[utoipa::path(delete, path = "/blocks/{userId}", tag = "social",
    params(("userId" = String, Path)), security(("bearerAuth" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn unblock(
    State(social): State<Social>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    social.unblock(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open reports: of my club's spaces (staff) or all (admins).
#[utoipa::path(get, path = "/reports", tag = "social", params(PageQuery),
    security(("bearerAuth" = [])),
    responses((status = 200, body = ReportList), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reports(
    State(social): State<Social>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<ReportList>> {
    Ok(Json(social.reports(&user, &q).await?))
}

/// A fan's or a club's picture (SVG initials); public, so an `<img>` can show it.
#[utoipa::path(get, path = "/avatars/{id}", tag = "social", params(("id" = String, Path)),
    responses((status = 200, description = "SVG picture", content_type = "image/svg+xml", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn avatar(State(social): State<Social>, Path(id): Path<String>) -> ApiResult<Response> {
    let svg = social.avatar(&id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg,
    )
        .into_response())
}
