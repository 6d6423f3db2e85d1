// Declarations of the PaieCashFan client. Request and answer types come from
// ./openapi.d.ts, which `npm run types` generates from the server's OpenAPI
// document (openapi-typescript); CI regenerates it and fails when it differs,
// so these types cannot drift from the server.
import type { components, operations } from './openapi.js';

export type { components, operations, paths } from './openapi.js';
/** Every schema of the API: `Schemas['Ticket']`, `Schemas['Problem']`, ... */
export type Schemas = components['schemas'];

type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;
type Responses<Op extends keyof operations> = operations[Op]['responses'];
/** The JSON answer of an operation (its 200, else its 201). */
export type Answer<Op extends keyof operations> = 200 extends keyof Responses<Op>
  ? JsonOf<Responses<Op>[200]>
  : 201 extends keyof Responses<Op>
    ? JsonOf<Responses<Op>[201]>
    : null;
/** The JSON request body of an operation. */
export type Body<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;
type Query<Op extends keyof operations> = operations[Op]['parameters'] extends { query?: infer Q } ? NonNullable<Q> : never;

/** Money on the wire: a decimal string with the currency's digits (`"79.99"`). */
export type Money = string;

export declare const API_VERSION: string;

export declare class ApiError extends Error {
  constructor(status: number, problem?: Partial<Schemas['Problem']> & Record<string, unknown>);
  /** The HTTP status; 0 when no answer came (network error). */
  status: number;
  /** The problem's stable code (`insufficient_funds`, `price_changed`, ...), `network_error` without an answer. */
  code: string;
  /** The whole problem document. */
  problem: Partial<Schemas['Problem']> & Record<string, unknown>;
  /** Per-field messages of a 422. */
  errors: Array<{ field: string; code: string; message: string }>;
}

/** Formats an API amount for people, exactly (no float on the way). */
export declare function formatMoney(amount: Money, currency: string, locale?: string | string[]): string;
/** A fresh Idempotency-Key (a random UUID), also where `crypto.randomUUID` is missing (plain HTTP pages). */
export declare function newIdempotencyKey(): string;
/** Adds two amounts of one currency exactly. */
export declare function addMoney(a: Money, b: Money): Money;

export interface ClientOptions {
  /** The API's base, ending in `/api` (v1.0's default `http://localhost:3000/api`). */
  baseURL?: string;
  token?: string | null;
  refreshToken?: string | null;
  /** Called when a 401 survives one refresh (or there is no refresh token). */
  onTokenExpired?: (() => void) | null;
  /** Called when the tokens change, to keep them. */
  onTokens?: ((tokens: { token: string | null; refreshToken: string | null }) => void) | null;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
  /** Sends again after no answer or a 429/502/503/504 (GET/PUT/DELETE, POSTs with an idempotency key, a check-in with its nonce, a refresh). Default 2. */
  retries?: number;
  retryDelayMs?: number;
  /** How long a payment retry waits, as Retry-After says, while its first try is still being answered (409 idempotency_request_in_flight). Default 30000. */
  inFlightWaitMs?: number;
}

export interface PayOptions {
  /** Chosen by the caller to retry a payment across restarts; a new one per call otherwise. */
  idempotencyKey?: string;
}

export interface RequestOptions {
  body?: unknown;
  params?: Record<string, string | number | boolean | undefined | null>;
  idempotent?: boolean;
  idempotencyKey?: string;
  auth?: boolean;
  raw?: boolean;
}

/** A live event of `GET /api/ws`. */
export interface LiveEvent<T = unknown> {
  id: string | number | null;
  type: 'ready' | 'message.created' | 'message.updated' | 'message.deleted' | 'conversation.read' | 'conversation.joined' | 'conversation.left' | 'notification.created' | 'typing' | 'replay.truncated' | string;
  data: T;
}

export interface Subscription {
  close(): void;
  send(frame: { type: 'typing'; conversationId: string }): void;
  readonly lastEventId: string | number | null;
}

export declare class PaieCashFanAPIClient {
  constructor(options?: ClientOptions);
  baseURL: string;
  token: string | null;
  refreshToken: string | null;
  onTokenExpired: (() => void) | null;

  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;

  // v1.0's methods
  register(email: string, password: string, name: string, clubId?: string): Promise<Answer<'register'>>;
  login(email: string, password: string): Promise<Answer<'login'>>;
  logout(): Promise<void>;
  getWalletBalance(): Promise<Answer<'balance'>>;
  getWalletTransactions(limit?: number, offset?: number): Promise<Answer<'transactions'>>;
  getWalletTransactions(params: Query<'transactions'>): Promise<Answer<'transactions'>>;
  sendMoney(recipientIdOrEmail: string, amount: Money | number, currency?: string, options?: PayOptions & { note?: string }): Promise<Answer<'send'>>;
  depositMoney(amount: Money | number, method?: string, options?: PayOptions & { currency?: string }): Promise<Answer<'deposit'>>;
  getESIMPlans(filters?: Query<'plans'>): Promise<Answer<'plans'>>;
  activateESIM(planId: string, options?: PayOptions): Promise<Answer<'activate'>>;
  getActiveESIM(): Promise<Answer<'active'>>;
  getProducts(club?: string, category?: string, q?: string): Promise<Answer<'products'>>;
  addToCart(productId: string, quantity?: number, variantId?: string): Promise<Answer<'add_to_cart'>>;
  getCart(): Promise<Answer<'get_cart'>>;
  checkout(total?: Money | number, options?: PayOptions): Promise<Answer<'checkout'>>;
  getEvents(club?: string): Promise<Answer<'events'>>;
  purchaseTicket(eventId: string, category?: string, price?: Money | number, options?: PayOptions & { quantity?: number }): Promise<Answer<'purchase'>>;
  getMyTickets(): Promise<Answer<'my_tickets'>>;
  getTicketQR(ticketId: string): Promise<Answer<'ticket_qr'>>;
  getConversations(): Promise<Answer<'conversations'>>;
  sendMessage(conversationId: string, message: string): Promise<Answer<'send_message'>>;
  getFeed(page?: number, limit?: number): Promise<Answer<'feed'>>;
  getFeed(params: Query<'feed'>): Promise<Answer<'feed'>>;
  getAIRecommendations(limit?: number): Promise<Answer<'recommendations'>>;
  getAIInsights(): Promise<Answer<'insights'>>;
  getAIPredictions(): Promise<Answer<'predictions'>>;
  getHealth(): Promise<Answer<'health'>>;
  getStats(): Promise<Answer<'stats'>>;

  // account
  refresh(): Promise<{ token: string; refreshToken: string }>;
  getMe(): Promise<Answer<'me'>>;
  updateMe(changes: Body<'update_me'>): Promise<Answer<'update_me'>>;
  changePassword(currentPassword: string, newPassword: string): Promise<Answer<'change_password'>>;
  getClubs(params?: Query<'list_clubs'>): Promise<Answer<'list_clubs'>>;
  getClub(id: string): Promise<Answer<'get_club'>>;

  // wallet and notifications
  getTransaction(id: string): Promise<Answer<'transaction'>>;
  getPayment(id: string): Promise<Answer<'payment'>>;
  getNotifications(params?: Query<'list'>): Promise<Answer<'list'>>;
  markNotificationRead(id: string): Promise<null>;

  // tickets and the gate
  getEvent(id: string): Promise<Answer<'event'>>;
  getTicket(id: string): Promise<Answer<'ticket'>>;
  getTicketQRImage(id: string, format?: 'svg' | 'png'): Promise<Blob>;
  transferTicket(id: string, recipient: Body<'transfer'>): Promise<Answer<'transfer'>>;
  refundTicket(id: string, options?: PayOptions): Promise<Answer<'refund'>>;
  getTicketMetadata(id: string): Promise<Answer<'metadata'>>;
  getTicketProvenance(id: string): Promise<Answer<'provenance'>>;
  getKeys(): Promise<Answer<'keys'>>;
  checkIn(qrCode: string, options?: Omit<Body<'checkin'>, 'qrCode'>): Promise<Answer<'checkin'>>;
  checkInBatch(eventId: string, scans: Body<'checkin_batch'>['scans'], gate?: string): Promise<Answer<'checkin_batch'>>;
  getGateKit(eventId: string, since?: string): Promise<Answer<'gate_kit'>>;

  // shop
  getProduct(id: string): Promise<Answer<'product'>>;
  updateCartItem(itemId: string, quantity: number): Promise<Answer<'update_cart_item'>>;
  removeCartItem(itemId: string): Promise<Answer<'remove_cart_item'>>;
  getOrders(params?: Query<'orders'>): Promise<Answer<'orders'>>;
  getOrder(id: string): Promise<Answer<'order'>>;
  cancelOrder(id: string, options?: PayOptions): Promise<Answer<'cancel_order'>>;

  // eSIM
  getESIMPlan(id: string): Promise<Answer<'plan'>>;
  getESIMs(): Promise<Answer<'mine'>>;
  getESIM(id: string): Promise<Answer<'one'>>;
  getESIMQRImage(id: string, format?: 'svg' | 'png'): Promise<Blob>;
  topUpESIM(id: string, planId: string, options?: PayOptions): Promise<Answer<'topup'>>;

  // chat
  createConversation(conversation: Body<'start_conversation'>): Promise<Answer<'start_conversation'>>;
  getConversation(id: string): Promise<Answer<'conversation'>>;
  getMessages(conversationId: string, params?: Query<'history'>): Promise<Answer<'history'>>;
  markConversationRead(conversationId: string, messageId?: string): Promise<Answer<'mark_conversation_read'>>;
  addMember(conversationId: string, userId: string): Promise<Answer<'add_member'>>;
  removeMember(conversationId: string, userId: string): Promise<null>;
  joinClubRoom(clubId: string): Promise<Answer<'join_club'>>;
  leaveClubRoom(clubId: string): Promise<null>;
  editMessage(id: string, message: string): Promise<Answer<'edit_message'>>;
  deleteMessage(id: string): Promise<null>;

  // feed and follows
  createPost(post: Body<'create_post'>): Promise<Answer<'create_post'>>;
  getPost(id: string): Promise<Answer<'post'>>;
  deletePost(id: string): Promise<null>;
  likePost(id: string): Promise<Answer<'like'>>;
  unlikePost(id: string): Promise<Answer<'unlike'>>;
  getComments(postId: string, params?: Query<'comments'>): Promise<Answer<'comments'>>;
  addComment(postId: string, content: string): Promise<Answer<'comment'>>;
  deleteComment(id: string): Promise<null>;
  followClub(clubId: string): Promise<null>;
  unfollowClub(clubId: string): Promise<null>;
  followUser(userId: string): Promise<null>;
  unfollowUser(userId: string): Promise<null>;
  getFollows(): Promise<Answer<'follows'>>;
  avatarURL(userId: string): string;

  // moderation
  getBlocks(): Promise<Answer<'blocks'>>;
  blockUser(userId: string): Promise<null>;
  unblockUser(userId: string): Promise<null>;
  report(kind: 'messages' | 'posts' | 'comments', id: string, reason: string): Promise<Answer<'report_post'>>;
  hide(kind: 'messages' | 'posts' | 'comments', id: string): Promise<null>;
  getReports(params?: Query<'reports'>): Promise<Answer<'reports'>>;

  // admin and staff
  revokeSessions(userId: string): Promise<Answer<'revoke_sessions'>>;
  getDeadLetters(): Promise<Answer<'dead_letters'>>;
  replayDeadLetter(id: string): Promise<Answer<'replay_dead_letter'>>;
  createProduct(product: Body<'create_product'>): Promise<Answer<'create_product'>>;
  updateProduct(id: string, changes: Body<'update_product'>): Promise<Answer<'update_product'>>;
  deleteProduct(id: string): Promise<Answer<'deactivate_product'>>;
  setOrderStatus(id: string, status: Body<'set_order_status'>['status']): Promise<Answer<'set_order_status'>>;
  createESIMPlan(plan: Body<'create_plan'>): Promise<Answer<'create_plan'>>;
  updateESIMPlan(id: string, changes: Body<'update_plan'>): Promise<Answer<'update_plan'>>;
  createEvent(event: Body<'create_event'>): Promise<Answer<'create_event'>>;
  updateEvent(id: string, changes: Body<'update_event'>): Promise<Answer<'update_event'>>;
  addCategory(eventId: string, category: Body<'add_category'>): Promise<Answer<'add_category'>>;
  updateCategory(eventId: string, categoryId: string, changes: Body<'update_category'>): Promise<Answer<'update_category'>>;
  setResult(eventId: string, result: Body<'record_result'>): Promise<Answer<'record_result'>>;
  rebuildAI(): Promise<Answer<'rebuild'>>;
  verifyLedger(): Promise<Answer<'ledger_verify'>>;

  // system
  getReady(): Promise<Answer<'ready'>>;
  getOpenAPI(): Promise<Record<string, unknown> & { info: { version: string } }>;

  /** Live events; reconnects and resumes after the last event delivered. */
  subscribe(
    handler: (event: LiveEvent) => void,
    options?: { lastEventId?: string | number | null; onState?: (state: 'open' | 'closed' | 'reconnecting', code?: number) => void; maxDelayMs?: number },
  ): Subscription;
}

export default PaieCashFanAPIClient;
