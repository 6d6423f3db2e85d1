// PaieCashFan API client: an ES module with no runtime dependencies (fetch
// and WebSocket from the platform). It keeps v1.0's class name, constructor
// options and method names, and speaks the current API version, so amounts
// are exact decimal strings and times RFC 3339 strings.

/** The API version this client is written against (sent on every request). */
export const API_VERSION = '2026-12-01';

const VERSION_HEADER = 'PaieCashFan-Version';
/** Statuses after which the same request may be sent again unchanged. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** A non-2xx answer: the HTTP status, the problem's stable `code`, the whole problem document. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.error || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || (status === 0 ? 'network_error' : 'http_error');
    this.problem = problem;
    // Per-field messages of a 422 (`[{field, code, message}]`).
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/**
 * Formats a money string of the API (`"79.99"`, `"1500"`) for people, without
 * ever going through a float: `formatMoney("1234.50", "EUR", "fr-FR")` is
 * `"1 234,50 €"`.
 */
export function formatMoney(amount, currency, locale) {
  const text = String(amount);
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new TypeError(`not an amount: ${text}`);
  const digits = (text.split('.')[1] || '').length;
  const options = { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits };
  // Intl formats a decimal string exactly (no float rounding) where the
  // engine implements NumberFormat v3, which Node 20 and current browsers do.
  return new Intl.NumberFormat(locale, options).format(text);
}

/** Adds two money strings of one currency exactly (integer minor units inside). */
export function addMoney(a, b) {
  const digits = Math.max(fraction(a), fraction(b));
  const sum = toMinor(a, digits) + toMinor(b, digits);
  return fromMinor(sum, digits);
}

function fraction(amount) {
  return (String(amount).split('.')[1] || '').length;
}

function toMinor(amount, digits) {
  const [whole, part = ''] = String(amount).replace('-', '').split('.');
  const minor = BigInt(whole + part.padEnd(digits, '0'));
  return String(amount).startsWith('-') ? -minor : minor;
}

function fromMinor(minor, digits) {
  const sign = minor < 0n ? '-' : '';
  const text = (minor < 0n ? -minor : minor).toString().padStart(digits + 1, '0');
  return digits === 0 ? sign + text : `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/**
 * A fresh Idempotency-Key (a random UUID). `crypto.randomUUID` exists only in
 * secure contexts (https, localhost); a page served over plain HTTP on
 * another name still has `getRandomValues`.
 */
export function newIdempotencyKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const newKey = newIdempotencyKey;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const seg = encodeURIComponent;

export class PaieCashFanAPIClient {
  /**
   * @param {object} [options]
   * @param {string} [options.baseURL] the API's base, ending in `/api`
   * @param {string} [options.token] an access token
   * @param {string} [options.refreshToken] a refresh token (login and register keep it)
   * @param {() => void} [options.onTokenExpired] called when a 401 survives a refresh
   * @param {(tokens: {token: string, refreshToken: string}) => void} [options.onTokens] called when tokens change (to store them)
   * @param {typeof fetch} [options.fetch] the fetch to use
   * @param {typeof WebSocket} [options.WebSocket] the WebSocket class to use
   * @param {number} [options.retries] how many times a request that got no answer (or 502/503/504) is sent again
   * @param {number} [options.inFlightWaitMs] how long a payment retry waits while the server still answers its first try (409 idempotency_request_in_flight)
   */
  constructor({
    baseURL = 'http://localhost:3000/api',
    token = null,
    refreshToken = null,
    onTokenExpired = null,
    onTokens = null,
    fetch: fetchImpl = null,
    WebSocket: webSocketImpl = null,
    retries = 2,
    retryDelayMs = 200,
    inFlightWaitMs = 30_000,
  } = {}) {
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.token = token;
    this.refreshToken = refreshToken;
    this.onTokenExpired = onTokenExpired;
    this.onTokens = onTokens;
    this.retries = retries;
    this.retryDelayMs = retryDelayMs;
    this.inFlightWaitMs = inFlightWaitMs;
    this._fetch = fetchImpl || ((...args) => globalThis.fetch(...args));
    this._WebSocket = webSocketImpl;
    this._refreshing = null;
  }

  // ---- transport -------------------------------------------------------

  /**
   * One API call. `idempotent: true` gives a money-moving POST an
   * `Idempotency-Key` (or uses `idempotencyKey`), kept for every retry so a
   * retried charge is charged once.
   */
  async request(method, path, { body, params, idempotent = false, idempotencyKey, auth = true, raw = false, retryPost = false } = {}) {
    const key = idempotent ? idempotencyKey || newKey() : null;
    // GET, PUT and DELETE may be sent again as they are; a POST or PATCH
    // only with its idempotency key (or a scan with its nonce).
    const retriable = key !== null || retryPost || ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method);
    let refreshed = false;
    let waitedInFlight = 0;
    for (let attempt = 0; ; attempt += 1) {
      const headers = { Accept: 'application/json', [VERSION_HEADER]: API_VERSION };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
      if (key) headers['Idempotency-Key'] = key;
      let response;
      try {
        response = await this._fetch(this.baseURL + path + query(params), {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (cause) {
        // No answer: the request may or may not have been applied.
        if (retriable && attempt < this.retries) {
          await sleep(this.retryDelayMs * 2 ** attempt);
          continue;
        }
        const error = new ApiError(0, { title: 'network error', detail: String(cause && cause.message ? cause.message : cause) });
        error.cause = cause;
        throw error;
      }
      if (response.status === 401 && auth && !refreshed && this.refreshToken && path !== '/auth/refresh') {
        refreshed = true;
        if (await this._refresh()) {
          attempt -= 1;
          continue;
        }
      }
      // The same key is still being answered: a retry overtook its first
      // try, or the instance that took it died and the server hands its
      // reservation over once it stops beating (seconds). Waited out on a
      // budget of its own, as the server's Retry-After says.
      if (response.status === 409 && key !== null && waitedInFlight < this.inFlightWaitMs && (await peekCode(response)) === 'idempotency_request_in_flight') {
        const wait = Math.max(retryAfterMs(response), 250);
        waitedInFlight += wait;
        await sleep(wait);
        attempt -= 1;
        continue;
      }
      const retryable = RETRY_STATUSES.has(response.status);
      if (retriable && retryable && attempt < this.retries) {
        await sleep(Math.max(this.retryDelayMs * 2 ** attempt, retryAfterMs(response)));
        continue;
      }
      if (response.status === 401 && auth) {
        const problem = await readProblem(response);
        this._expired();
        throw new ApiError(401, problem);
      }
      if (!response.ok) throw new ApiError(response.status, await readProblem(response));
      if (raw) return response;
      if (response.status === 204) return null;
      const type = response.headers.get('content-type') || '';
      return type.includes('json') ? response.json() : response.text();
    }
  }

  /**
   * One refresh at a time: concurrent 401s wait for the same one. Resolves
   * true with new tokens, false when the server refused the refresh token;
   * rejects when no answer came (the tokens are kept: the session may well
   * be alive). Sent again after a lost answer: the server gives the same
   * pair to a refresh token used twice within its grace window.
   */
  async _refresh() {
    if (!this._refreshing) {
      const refreshToken = this.refreshToken;
      this._refreshing = this.request('POST', '/auth/refresh', { body: { refreshToken }, auth: false, retryPost: true })
        .then((data) => {
          this._setTokens(data);
          return true;
        })
        .catch((error) => {
          if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) return false;
          throw error;
        })
        .finally(() => {
          this._refreshing = null;
        });
    }
    return this._refreshing;
  }

  _expired() {
    this.token = null;
    this.refreshToken = null;
    if (this.onTokens) this.onTokens({ token: null, refreshToken: null });
    if (this.onTokenExpired) this.onTokenExpired();
  }

  /** Whether the access token expires within `marginMs` (read from its `exp`; false when unreadable). */
  _tokenExpiresSoon(marginMs = 10_000) {
    try {
      const part = this.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const { exp } = JSON.parse(globalThis.atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
      return typeof exp === 'number' && exp * 1000 - Date.now() < marginMs;
    } catch {
      return false;
    }
  }

  _setTokens(data) {
    if (data && data.token) {
      this.token = data.token;
      if (data.refreshToken) this.refreshToken = data.refreshToken;
      if (this.onTokens) this.onTokens({ token: this.token, refreshToken: this.refreshToken });
    }
    return data;
  }

  get(path, params) {
    return this.request('GET', path, { params });
  }

  post(path, body, options = {}) {
    return this.request('POST', path, { body, ...options });
  }

  /** A money-moving POST: sent with an `Idempotency-Key`, retried with it. */
  pay(path, body, idempotencyKey) {
    return this.request('POST', path, { body, idempotent: true, idempotencyKey });
  }

  // ---- v1.0 methods (same names and arguments) --------------------------

  async register(email, password, name, clubId = 'AS_MONACO') {
    const data = await this.request('POST', '/auth/register', { body: { email, password, name, clubId }, auth: false });
    return this._setTokens(data);
  }

  async login(email, password) {
    const data = await this.request('POST', '/auth/login', { body: { email, password }, auth: false });
    return this._setTokens(data);
  }

  /** Ends the session on the server too (its refresh token is revoked), then forgets the tokens. */
  async logout() {
    const refreshToken = this.refreshToken;
    try {
      if (refreshToken) await this.request('POST', '/auth/logout', { body: { refreshToken }, auth: false });
    } finally {
      this.token = null;
      this.refreshToken = null;
      if (this.onTokens) this.onTokens({ token: null, refreshToken: null });
    }
  }

  getWalletBalance() {
    return this.get('/wallet/balance');
  }

  /** v1.0's `(limit, offset)`; `{limit, cursor}` pages with the cursor instead. */
  getWalletTransactions(limit = 20, offset = 0) {
    if (typeof limit === 'object' && limit !== null) return this.get('/wallet/transactions', limit);
    return this.get('/wallet/transactions', { limit, offset: offset || undefined });
  }

  /** `recipientId` may also be the recipient's e-mail address. */
  sendMoney(recipientId, amount, currency = 'EUR', { idempotencyKey, note } = {}) {
    const to = String(recipientId).includes('@') ? { recipientEmail: recipientId } : { recipientId };
    return this.pay('/wallet/send', { ...to, amount: String(amount), currency, ...(note ? { note } : {}) }, idempotencyKey);
  }

  depositMoney(amount, method = 'card', { currency, idempotencyKey } = {}) {
    return this.pay('/wallet/deposit', { amount: String(amount), method, ...(currency ? { currency } : {}) }, idempotencyKey);
  }

  getESIMPlans(filters = {}) {
    return this.get('/esim/plans', filters);
  }

  activateESIM(planId, { idempotencyKey } = {}) {
    return this.pay('/esim/activate', { planId }, idempotencyKey);
  }

  getActiveESIM() {
    return this.get('/esim/active');
  }

  getProducts(club = 'AS_MONACO', category = 'all', q) {
    return this.get('/shop/products', { club, category, q });
  }

  addToCart(productId, quantity = 1, variantId) {
    return this.post('/shop/cart/add', { productId, quantity, ...(variantId ? { variantId } : {}) });
  }

  getCart() {
    return this.get('/shop/cart');
  }

  /** `total` (a string, as the cart shows it) guards against a price that changed since. */
  checkout(total, { idempotencyKey } = {}) {
    return this.pay('/shop/checkout', total === undefined ? {} : { total: String(total) }, idempotencyKey);
  }

  getEvents(club = 'AS_MONACO') {
    return this.get('/tickets/events', { club });
  }

  purchaseTicket(eventId, category, price, { idempotencyKey, quantity } = {}) {
    const body = { eventId };
    if (category) body.category = category;
    if (price !== undefined && price !== null) body.price = String(price);
    if (quantity) body.quantity = quantity;
    return this.pay('/tickets/purchase', body, idempotencyKey);
  }

  getMyTickets() {
    return this.get('/tickets/my-tickets');
  }

  getTicketQR(ticketId) {
    return this.get(`/tickets/${seg(ticketId)}/qr`);
  }

  getConversations() {
    return this.get('/social/conversations');
  }

  sendMessage(conversationId, message) {
    return this.post('/social/messages', { conversationId, message });
  }

  /** v1.0's `(page, limit)`; `{limit, cursor}` pages with the cursor instead. */
  getFeed(page = 1, limit = 10) {
    if (typeof page === 'object' && page !== null) return this.get('/social/feed', page);
    return this.get('/social/feed', { page, limit });
  }

  getAIRecommendations(limit) {
    return this.get('/ai/recommendations', { limit });
  }

  getAIInsights() {
    return this.get('/ai/insights');
  }

  getAIPredictions() {
    return this.get('/ai/predictions');
  }

  getHealth() {
    return this.request('GET', '/health', { auth: false });
  }

  getStats() {
    return this.get('/stats');
  }

  // ---- account ----------------------------------------------------------

  async refresh() {
    if (!(await this._refresh())) throw new ApiError(401, { status: 401, code: 'unauthorized', detail: 'the refresh token was refused' });
    return { token: this.token, refreshToken: this.refreshToken };
  }

  getMe() {
    return this.get('/auth/me');
  }

  updateMe(changes) {
    return this.request('PATCH', '/auth/me', { body: changes });
  }

  async changePassword(currentPassword, newPassword) {
    return this._setTokens(await this.post('/auth/password', { currentPassword, newPassword }));
  }

  // ---- clubs ------------------------------------------------------------

  getClubs(params) {
    return this.get('/clubs', params);
  }

  getClub(id) {
    return this.get(`/clubs/${seg(id)}`);
  }

  // ---- wallet -----------------------------------------------------------

  getTransaction(id) {
    return this.get(`/wallet/transactions/${seg(id)}`);
  }

  getPayment(id) {
    return this.get(`/wallet/payments/${seg(id)}`);
  }

  // ---- notifications ----------------------------------------------------

  getNotifications(params) {
    return this.get('/notifications', params);
  }

  markNotificationRead(id) {
    return this.post(`/notifications/${seg(id)}/read`);
  }

  // ---- tickets and the gate ----------------------------------------------

  getEvent(id) {
    return this.get(`/tickets/events/${seg(id)}`);
  }

  getTicket(id) {
    return this.get(`/tickets/${seg(id)}`);
  }

  /** The QR code as an image: `format` `svg` or `png`; answers a Blob. */
  async getTicketQRImage(id, format = 'svg') {
    const response = await this.request('GET', `/tickets/${seg(id)}/qr`, { params: { format }, raw: true });
    return response.blob();
  }

  transferTicket(id, recipient) {
    return this.post(`/tickets/${seg(id)}/transfer`, recipient);
  }

  refundTicket(id, { idempotencyKey } = {}) {
    return this.pay(`/tickets/${seg(id)}/refund`, undefined, idempotencyKey);
  }

  getTicketMetadata(id) {
    return this.get(`/tickets/${seg(id)}/metadata`);
  }

  getTicketProvenance(id) {
    return this.get(`/tickets/${seg(id)}/provenance`);
  }

  getKeys() {
    return this.get('/keys');
  }

  /**
   * Staff: the verdict on a scanned QR payload. `nonce` names this scan, so
   * a retry gets the first verdict again; `eventId`, `gate`, `type` (`entry`
   * or `exit`) are optional.
   */
  checkIn(qrCode, { nonce = newKey(), ...extra } = {}) {
    return this.request('POST', '/tickets/checkin', { body: { qrCode, nonce, ...extra }, idempotent: false, retryPost: true });
  }

  checkInBatch(eventId, scans, gate) {
    return this.post('/tickets/checkin/batch', { eventId, scans, ...(gate ? { gate } : {}) });
  }

  getGateKit(eventId, since) {
    return this.get(`/tickets/events/${seg(eventId)}/gate-kit`, { since });
  }

  // ---- shop --------------------------------------------------------------

  getProduct(id) {
    return this.get(`/shop/products/${seg(id)}`);
  }

  updateCartItem(itemId, quantity) {
    return this.request('PATCH', `/shop/cart/items/${seg(itemId)}`, { body: { quantity } });
  }

  removeCartItem(itemId) {
    return this.request('DELETE', `/shop/cart/items/${seg(itemId)}`);
  }

  getOrders(params) {
    return this.get('/shop/orders', params);
  }

  getOrder(id) {
    return this.get(`/shop/orders/${seg(id)}`);
  }

  cancelOrder(id, { idempotencyKey } = {}) {
    return this.pay(`/shop/orders/${seg(id)}/cancel`, undefined, idempotencyKey);
  }

  // ---- eSIM --------------------------------------------------------------

  getESIMPlan(id) {
    return this.get(`/esim/plans/${seg(id)}`);
  }

  getESIMs() {
    return this.get('/esim');
  }

  getESIM(id) {
    return this.get(`/esim/${seg(id)}`);
  }

  /** The activation QR code as an image (`svg` or `png`); answers a Blob. */
  async getESIMQRImage(id, format = 'svg') {
    const response = await this.request('GET', `/esim/${seg(id)}/qr`, { params: { format }, raw: true });
    return response.blob();
  }

  topUpESIM(id, planId, { idempotencyKey } = {}) {
    return this.pay(`/esim/${seg(id)}/topup`, { planId }, idempotencyKey);
  }

  // ---- chat --------------------------------------------------------------

  createConversation({ type = 'direct', participantIds, name } = {}) {
    return this.post('/social/conversations', { type, participantIds, ...(name ? { name } : {}) });
  }

  getConversation(id) {
    return this.get(`/social/conversations/${seg(id)}`);
  }

  /** Newest first; `{limit, cursor}`. */
  getMessages(conversationId, params) {
    return this.get(`/social/conversations/${seg(conversationId)}/messages`, params);
  }

  /** Read up to the newest message, or up to `messageId`. */
  markConversationRead(conversationId, messageId) {
    return this.post(`/social/conversations/${seg(conversationId)}/read`, messageId ? { messageId } : undefined);
  }

  addMember(conversationId, userId) {
    return this.post(`/social/conversations/${seg(conversationId)}/members`, { userId });
  }

  removeMember(conversationId, userId) {
    return this.request('DELETE', `/social/conversations/${seg(conversationId)}/members/${seg(userId)}`);
  }

  joinClubRoom(clubId) {
    return this.post(`/social/clubs/${seg(clubId)}/join`);
  }

  leaveClubRoom(clubId) {
    return this.post(`/social/clubs/${seg(clubId)}/leave`);
  }

  editMessage(id, message) {
    return this.request('PATCH', `/social/messages/${seg(id)}`, { body: { message } });
  }

  deleteMessage(id) {
    return this.request('DELETE', `/social/messages/${seg(id)}`);
  }

  // ---- feed and follows ----------------------------------------------------

  createPost(post) {
    return this.post('/social/posts', post);
  }

  getPost(id) {
    return this.get(`/social/posts/${seg(id)}`);
  }

  deletePost(id) {
    return this.request('DELETE', `/social/posts/${seg(id)}`);
  }

  likePost(id) {
    return this.post(`/social/posts/${seg(id)}/like`);
  }

  unlikePost(id) {
    return this.request('DELETE', `/social/posts/${seg(id)}/like`);
  }

  getComments(postId, params) {
    return this.get(`/social/posts/${seg(postId)}/comments`, params);
  }

  addComment(postId, content) {
    return this.post(`/social/posts/${seg(postId)}/comments`, { content });
  }

  deleteComment(id) {
    return this.request('DELETE', `/social/comments/${seg(id)}`);
  }

  followClub(clubId) {
    return this.post(`/social/clubs/${seg(clubId)}/follow`);
  }

  unfollowClub(clubId) {
    return this.request('DELETE', `/social/clubs/${seg(clubId)}/follow`);
  }

  followUser(userId) {
    return this.post(`/social/users/${seg(userId)}/follow`);
  }

  unfollowUser(userId) {
    return this.request('DELETE', `/social/users/${seg(userId)}/follow`);
  }

  getFollows() {
    return this.get('/social/follows');
  }

  /** The address of a user's avatar (an SVG), for an `<img src>`. */
  avatarURL(userId) {
    return `${this.baseURL}/social/avatars/${seg(userId)}`;
  }

  // ---- moderation ------------------------------------------------------------

  getBlocks() {
    return this.get('/social/blocks');
  }

  blockUser(userId) {
    return this.post('/social/blocks', { userId });
  }

  unblockUser(userId) {
    return this.request('DELETE', `/social/blocks/${seg(userId)}`);
  }

  /** `kind`: `messages`, `posts` or `comments`. */
  report(kind, id, reason) {
    return this.post(`/social/${seg(kind)}/${seg(id)}/report`, { reason });
  }

  hide(kind, id) {
    return this.post(`/social/${seg(kind)}/${seg(id)}/hide`);
  }

  getReports(params) {
    return this.get('/social/reports', params);
  }

  // ---- admin and staff ---------------------------------------------------------

  revokeSessions(userId) {
    return this.post(`/admin/users/${seg(userId)}/sessions/revoke`);
  }

  getDeadLetters() {
    return this.get('/admin/payments/dead-letters');
  }

  replayDeadLetter(id) {
    return this.post(`/admin/payments/dead-letters/${seg(id)}/replay`);
  }

  createProduct(product) {
    return this.post('/admin/products', product);
  }

  updateProduct(id, changes) {
    return this.request('PATCH', `/admin/products/${seg(id)}`, { body: changes });
  }

  deleteProduct(id) {
    return this.request('DELETE', `/admin/products/${seg(id)}`);
  }

  setOrderStatus(id, status) {
    return this.post(`/admin/orders/${seg(id)}/status`, { status });
  }

  createESIMPlan(plan) {
    return this.post('/admin/esim/plans', plan);
  }

  updateESIMPlan(id, changes) {
    return this.request('PATCH', `/admin/esim/plans/${seg(id)}`, { body: changes });
  }

  createEvent(event) {
    return this.post('/admin/events', event);
  }

  updateEvent(id, changes) {
    return this.request('PATCH', `/admin/events/${seg(id)}`, { body: changes });
  }

  addCategory(eventId, category) {
    return this.post(`/admin/events/${seg(eventId)}/categories`, category);
  }

  updateCategory(eventId, categoryId, changes) {
    return this.request('PATCH', `/admin/events/${seg(eventId)}/categories/${seg(categoryId)}`, { body: changes });
  }

  setResult(eventId, result) {
    return this.post(`/admin/events/${seg(eventId)}/result`, result);
  }

  rebuildAI() {
    return this.post('/admin/ai/rebuild');
  }

  verifyLedger() {
    return this.get('/admin/ledger/verify');
  }

  // ---- system ------------------------------------------------------------------

  getReady() {
    return this.request('GET', '/health/ready', { auth: false });
  }

  getOpenAPI() {
    return this.request('GET', '/openapi.json', { auth: false });
  }

  // ---- live events -----------------------------------------------------------------

  /**
   * Live events (`message.created`, `notification.created`, ...) as
   * `handler({id, type, data})`. Reconnects by itself and resumes after the
   * last event it delivered, so none is missed or seen twice; `onState`
   * hears `open`, `closed` and `reconnecting`. Returns `{close(), send(frame)}`.
   */
  subscribe(handler, { lastEventId = null, onState = null, maxDelayMs = 10_000 } = {}) {
    const WS = this._WebSocket || globalThis.WebSocket;
    if (!WS) throw new Error('no WebSocket here: pass one as the WebSocket option');
    if (!this.token) throw new Error('sign in first: live events need an access token');
    let socket = null;
    let closed = false;
    let delay = 250;
    let timer = null;
    let last = lastEventId;
    const state = (s, detail) => onState && onState(s, detail);
    const stop = (code) => {
      closed = true;
      state('closed', code);
    };
    const again = (code) => {
      state('reconnecting', code);
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, maxDelayMs);
    };
    /** A new access token before connecting; false when the session is over. */
    const renewed = async () => {
      if (!this.refreshToken) return false;
      try {
        return await this._refresh();
      } catch {
        return true; // no answer: try the connection again later
      }
    };
    const connect = async () => {
      timer = null;
      if (closed) return;
      // A handshake with an expired token is refused with a plain 401,
      // which a browser reports only as close code 1006: renew first.
      if (this._tokenExpiresSoon() && !(await renewed())) {
        this._expired();
        return stop(4001);
      }
      if (closed) return;
      const url = new URL(this.baseURL + '/ws' + query({ lastEventId: last }));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      let opened = false;
      try {
        // Browsers cannot set Authorization on a WebSocket: the token travels
        // as the second value of the `bearer` sub-protocol.
        socket = new WS(url.toString(), ['bearer', this.token]);
      } catch (error) {
        return stop(error && error.message ? error.message : String(error));
      }
      socket.onopen = () => {
        opened = true;
        delay = 250;
        state('open');
      };
      socket.onmessage = (message) => {
        let event;
        try {
          event = JSON.parse(typeof message.data === 'string' ? message.data : String(message.data));
        } catch {
          return;
        }
        if (event.id !== undefined && event.id !== null) last = event.id;
        if (event.type === 'ready' && event.data && event.data.lastEventId != null && last == null) {
          last = event.data.lastEventId;
        }
        handler(event);
      };
      socket.onclose = async (event) => {
        socket = null;
        if (closed) return state('closed', event.code);
        // The session ended or the token expired (4001), or the handshake
        // failed: renew the token when that is the reason, then go on.
        if (event.code === 4001 || (!opened && this._tokenExpiresSoon())) {
          if (!(await renewed())) {
            this._expired();
            return stop(event.code);
          }
        }
        if (!closed) again(event.code);
      };
      socket.onerror = () => {};
    };
    connect();
    return {
      close() {
        closed = true;
        if (timer) clearTimeout(timer);
        if (socket) socket.close(1000);
        else state('closed', 1000);
      },
      send(frame) {
        if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
      },
      get lastEventId() {
        return last;
      },
    };
  }
}

async function readProblem(response) {
  try {
    const text = await response.text();
    return text ? JSON.parse(text) : { status: response.status };
  } catch {
    return { status: response.status };
  }
}

async function peekCode(response) {
  try {
    return (await response.clone().json()).code;
  } catch {
    return undefined;
  }
}

function retryAfterMs(response) {
  const seconds = Number(response.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 5) * 1000 : 0;
}

export default PaieCashFanAPIClient;
