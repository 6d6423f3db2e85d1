// The client against a real server (test/server.js starts one, or
// PCF_BASE_URL names one: CI runs these through nginx in front of two
// instances too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PaieCashFanAPIClient, ApiError, API_VERSION, formatMoney, addMoney, newIdempotencyKey } from '../src/index.js';
import { startServer } from './server.js';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  if (server) await server.stop();
});

const V1_METHODS = [
  'register', 'login', 'logout', 'getWalletBalance', 'getWalletTransactions', 'sendMoney', 'depositMoney',
  'getESIMPlans', 'activateESIM', 'getActiveESIM', 'getProducts', 'addToCart', 'getCart', 'checkout', 'getEvents',
  'purchaseTicket', 'getMyTickets', 'getTicketQR', 'getConversations', 'sendMessage', 'getFeed',
  'getAIRecommendations', 'getAIInsights', 'getAIPredictions', 'getHealth', 'getStats',
];

function client(options = {}) {
  return new PaieCashFanAPIClient({ baseURL: server.baseURL, ...options });
}

let counter = 0;
async function newFan(options = {}) {
  const c = client(options);
  counter += 1;
  const email = `fan${counter}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`;
  const r = await c.register(email, 'client-test-password', `Fan ${counter}`, 'AS_MONACO');
  return { c, user: r.user, email };
}

/** A fetch that records what was sent, and can lose the answer of chosen requests. */
function recordingFetch({ loseAnswerOf = () => false } = {}) {
  const sent = [];
  const f = async (url, init) => {
    sent.push({ url, ...init, headers: { ...init.headers } });
    const response = await fetch(url, init);
    if (loseAnswerOf(url, init, sent.length)) throw new TypeError('fetch failed (answer lost on the way back)');
    return response;
  };
  f.sent = sent;
  return f;
}

test('v1.0 method names and constructor options are all there', () => {
  const expired = () => {};
  const c = new PaieCashFanAPIClient({ baseURL: 'http://x/api', token: 't', onTokenExpired: expired });
  assert.equal(c.baseURL, 'http://x/api');
  assert.equal(c.token, 't');
  assert.equal(c.onTokenExpired, expired);
  for (const m of V1_METHODS) assert.equal(typeof c[m], 'function', m);
  assert.equal(new PaieCashFanAPIClient().baseURL, 'http://localhost:3000/api', "v1.0's default");
});

test('every request names the current version and gets its shapes: money as exact strings', async () => {
  const f = recordingFetch();
  const c = client({ fetch: f });
  const { user, token, refreshToken } = await c.login('demo@paiecashfan.com', 'demo123');
  assert.equal(user.email, 'demo@paiecashfan.com');
  assert.equal(c.token, token);
  assert.equal(c.refreshToken, refreshToken);
  const balance = await c.getWalletBalance();
  assert.equal(typeof balance.balance, 'string');
  assert.match(balance.balance, /^\d+\.\d{2}$/);
  const { events } = await c.getEvents('AS_MONACO');
  assert.ok(events.length > 0);
  assert.match(events[0].kickoff, /^\d{4}-\d\d-\d\dT/);
  assert.equal(typeof events[0].priceFrom, 'string');
  const { plans } = await c.getESIMPlans();
  assert.ok(plans.some((p) => p.id === 'europe-unlimited' && p.price === '19.99'));
  const { products } = await c.getProducts('AS_MONACO', 'all');
  assert.ok(products.some((p) => p.name === 'Écharpe Supporter' && p.price === '14.99'));
  assert.equal((await c.getHealth()).status, 'ok');
  assert.equal(typeof (await c.getStats()).users, 'number');
  assert.ok((await c.getConversations()).conversations.length > 0);
  assert.ok(Array.isArray((await c.getFeed(1, 5)).feed));
  const recs = await c.getAIRecommendations();
  assert.ok(recs.recommendations.every((r) => typeof r.reason === 'string'));
  assert.ok((await c.getAIInsights()).insights);
  assert.ok((await c.getAIPredictions()).predictions);
  for (const s of f.sent) assert.equal(s.headers['PaieCashFan-Version'], API_VERSION, s.url);
  assert.equal(API_VERSION, (await c.getOpenAPI()).info.version, 'the version the server documents');
});

test('a fan session: deposit, eSIM, shop, ticket, send, history', async () => {
  const { c } = await newFan();
  const { c: friend, user: friendUser } = await newFan();
  const d = await c.depositMoney('300.00');
  assert.equal(d.newBalance, '300.00');
  const e = await c.activateESIM('europe-unlimited');
  assert.match(e.esim.activationCode, /^LPA:1\$/);
  assert.equal(e.newBalance, '280.01');
  assert.equal((await c.getActiveESIM()).esim.id, e.esim.id);
  const svg = await c.getESIMQRImage(e.esim.id, 'svg');
  assert.match(await svg.text(), /<svg/);

  const { products } = await c.getProducts();
  const scarf = products.find((p) => p.name === 'Écharpe Supporter');
  const added = await c.addToCart(scarf.id, 2);
  assert.equal(added.cart.total, '29.98');
  const { cart } = await c.getCart();
  const order = await c.checkout(cart.total);
  assert.equal(order.order.total, '29.98');
  assert.equal(order.newBalance, addMoney('250.03', '0.00'));

  const { events } = await c.getEvents();
  const standard = events[0].categories.find((x) => x.name === 'standard');
  const bought = await c.purchaseTicket(events[0].id, 'standard', standard.price);
  assert.equal(bought.ticket.category, 'standard');
  const qr = await c.getTicketQR(bought.ticket.id);
  assert.equal(qr.ticketId, bought.ticket.id);
  assert.match(qr.qrCode, /^PCF1\./);
  assert.ok((await c.getMyTickets()).tickets.some((t) => t.id === bought.ticket.id));

  const sent = await c.sendMoney(friendUser.id, '10.50');
  assert.equal(sent.newBalance, addMoney(bought.newBalance, '-10.50'));
  assert.equal((await friend.getWalletBalance()).balance, '10.50');
  const { transactions } = await c.getWalletTransactions(10, 0);
  const out = transactions.find((t) => t.type === 'transfer' || t.direction === 'out');
  assert.equal(out.direction, 'out');
  const page1 = await c.getWalletTransactions({ limit: 2 });
  const page2 = await c.getWalletTransactions({ limit: 2, cursor: page1.nextCursor });
  assert.notEqual(page1.transactions[0].id, page2.transactions[0].id);
});

test('a money-moving call carries an Idempotency-Key and a retry after a lost answer reuses it: charged once', async () => {
  const { c: fan } = await newFan();
  await fan.depositMoney('50.00');
  // The first try reaches the server and is applied; its answer is lost.
  const f = recordingFetch({ loseAnswerOf: (url, init, n) => url.endsWith('/wallet/send') && n === 1 });
  const c = client({ fetch: f, token: fan.token, retryDelayMs: 10 });
  const { user: to } = await newFan();
  const r = await c.sendMoney(to.id, '20.00');
  assert.equal(r.newBalance, '30.00');
  const sends = f.sent.filter((s) => s.url.endsWith('/wallet/send'));
  assert.equal(sends.length, 2, 'sent again after the lost answer');
  const key = sends[0].headers['Idempotency-Key'];
  assert.match(key, /^[0-9a-f-]{36}$/);
  assert.equal(sends[1].headers['Idempotency-Key'], key, 'the retry reuses the key');
  assert.equal((await fan.getWalletBalance()).balance, '30.00', 'charged once');
  // Two separate calls are two separate payments.
  await c.sendMoney(to.id, '1.00');
  const keys = f.sent.filter((s) => s.url.endsWith('/wallet/send')).map((s) => s.headers['Idempotency-Key']);
  assert.notEqual(keys[2], key);
  // A GET carries none.
  await c.getWalletBalance();
  assert.equal(f.sent.at(-1).headers['Idempotency-Key'], undefined);
});

test('a payment retry that finds its first try still in flight waits as Retry-After says, with the same key', async () => {
  const { c: fan } = await newFan();
  await fan.depositMoney('5.00');
  const { user: to } = await newFan();
  const keys = [];
  let inFlight = 2;
  const f = async (url, init) => {
    if (url.endsWith('/wallet/send')) keys.push(init.headers['Idempotency-Key']);
    // What the server answers while another instance holds the key.
    if (url.endsWith('/wallet/send') && inFlight-- > 0) {
      const problem = { type: 'about:blank', title: 'Conflict', status: 409, code: 'idempotency_request_in_flight', detail: 'still being processed' };
      return new Response(JSON.stringify(problem), { status: 409, headers: { 'content-type': 'application/problem+json', 'retry-after': '1' } });
    }
    return fetch(url, init);
  };
  const c = client({ fetch: f, token: fan.token, retries: 0 });
  const started = Date.now();
  const r = await c.sendMoney(to.id, '1.00');
  assert.equal(r.newBalance, '4.00');
  assert.ok(Date.now() - started >= 1900, 'waited a second per Retry-After');
  assert.equal(keys.length, 3);
  assert.ok(keys.every((k) => k === keys[0]));
  // Past its waiting budget, the conflict is the caller's to see.
  inFlight = 100;
  const impatient = client({ fetch: f, token: fan.token, inFlightWaitMs: 500 });
  await assert.rejects(impatient.sendMoney(to.id, '1.00'), (e) => e.status === 409 && e.code === 'idempotency_request_in_flight');
});

test('a POST that moves no money is not sent twice after a lost answer', async () => {
  const { c: fan } = await newFan();
  const f = recordingFetch({ loseAnswerOf: (url) => url.endsWith('/social/posts') });
  const c = client({ fetch: f, token: fan.token, retryDelayMs: 10 });
  await assert.rejects(c.createPost({ content: 'once only' }), (e) => e instanceof ApiError && e.status === 0 && e.code === 'network_error');
  assert.equal(f.sent.filter((s) => s.url.endsWith('/social/posts')).length, 1);
});

test('an expired access token is refreshed once, then the call goes on', async () => {
  const { c: fan } = await newFan();
  let told = 0;
  let stored = null;
  const f = recordingFetch();
  const c = client({ fetch: f, token: 'not-a-valid-token', refreshToken: fan.refreshToken, onTokenExpired: () => (told += 1), onTokens: (t) => (stored = t) });
  // Concurrent calls share one refresh.
  const [a, b] = await Promise.all([c.getWalletBalance(), c.getMe()]);
  assert.equal(a.balance, '0.00');
  assert.ok(b.user.id);
  assert.equal(told, 0);
  assert.equal(f.sent.filter((s) => s.url.endsWith('/auth/refresh')).length, 1, 'one refresh');
  assert.notEqual(c.token, 'not-a-valid-token');
  assert.deepEqual(stored, { token: c.token, refreshToken: c.refreshToken });
});

test('a refresh whose answer was lost is sent again and the call goes on', async () => {
  const { c: fan } = await newFan();
  let told = 0;
  let lost = 1;
  const f = recordingFetch({ loseAnswerOf: (url) => url.endsWith('/auth/refresh') && lost-- > 0 });
  const c = client({ fetch: f, token: 'expired', refreshToken: fan.refreshToken, onTokenExpired: () => (told += 1), retryDelayMs: 10 });
  assert.equal((await c.getWalletBalance()).balance, '0.00');
  assert.equal(f.sent.filter((s) => s.url.endsWith('/auth/refresh')).length, 2, 'sent again');
  assert.equal(told, 0);
});

test('a refresh that gets no answer at all keeps the session: the call fails as a network error', async () => {
  const { c: fan } = await newFan();
  let told = 0;
  const f = recordingFetch({ loseAnswerOf: (url) => url.endsWith('/auth/refresh') });
  const c = client({ fetch: f, token: 'expired', refreshToken: fan.refreshToken, onTokenExpired: () => (told += 1), retryDelayMs: 10 });
  await assert.rejects(c.getWalletBalance(), (e) => e instanceof ApiError && e.status === 0 && e.code === 'network_error');
  assert.equal(told, 0, 'not signed out by a network blip');
  assert.equal(c.refreshToken, fan.refreshToken, 'tokens kept');
  // Once the network is back, the same session goes on.
  const ok = client({ token: 'expired', refreshToken: c.refreshToken });
  assert.equal((await ok.getWalletBalance()).balance, '0.00');
});

test('when the refresh is refused too, onTokenExpired is called and an ApiError 401 thrown', async () => {
  let told = 0;
  let stored;
  const c = client({ token: 'bad', refreshToken: 'also-bad', onTokenExpired: () => (told += 1), onTokens: (t) => (stored = t) });
  await assert.rejects(c.getWalletBalance(), (e) => e instanceof ApiError && e.status === 401 && e.code === 'unauthorized');
  assert.equal(told, 1);
  assert.equal(c.token, null);
  assert.deepEqual(stored, { token: null, refreshToken: null }, 'the stored tokens are forgotten');
  // Without a refresh token: straight to onTokenExpired, as v1.0 did.
  const v1 = client({ token: 'bad', onTokenExpired: () => (told += 1) });
  await assert.rejects(v1.getWalletBalance(), ApiError);
  assert.equal(told, 2);
});

test('errors are ApiErrors carrying the status, the stable code and the problem document', async () => {
  const { c, user } = await newFan();
  await assert.rejects(c.sendMoney(user.id, '5.00'), (e) => {
    assert.ok(e instanceof ApiError);
    assert.ok(e instanceof Error);
    assert.equal(e.status, 422);
    assert.equal(typeof e.problem.title, 'string');
    assert.equal(e.problem.status, 422);
    return true;
  });
  const { c: friendClient, user: friend } = await newFan();
  assert.ok(friendClient);
  await assert.rejects(c.sendMoney(friend.id, '5.00'), (e) => e.status === 409 && e.code === 'insufficient_funds' && e.message.length > 0);
  await assert.rejects(c.depositMoney('1.234'), (e) => e.status === 422 && e.code === 'validation_failed' && e.errors.some((x) => x.field === 'amount'));
  await assert.rejects(c.getTicket('00000000-0000-7000-8000-000000000000'), (e) => e.status === 404 && e.code === 'not_found');
  const { events } = await c.getEvents();
  await assert.rejects(c.purchaseTicket(events[0].id, 'standard', '0.01'), (e) => e.status === 409 && e.code === 'price_changed');
  await assert.rejects(c.logout().then(() => c.getWalletBalance()), (e) => e.status === 401);
});

test('logout revokes the refresh token on the server', async () => {
  const { c } = await newFan();
  const refreshToken = c.refreshToken;
  await c.logout();
  assert.equal(c.token, null);
  const other = client({ refreshToken });
  await assert.rejects(other.refresh(), (e) => e.status === 401);
});

test('subscribe delivers live chat events and a resume misses none', async () => {
  const { c: a, user: ua } = await newFan();
  const { c: b } = await newFan();
  const { conversation } = await b.createConversation({ type: 'direct', participantIds: [ua.id] });
  const got = [];
  let opened;
  const open = new Promise((r) => (opened = r));
  const sub = a.subscribe((e) => got.push(e), { onState: (s) => s === 'open' && opened() });
  await open;
  await waitFor(() => got.some((e) => e.type === 'ready'));
  await b.sendMessage(conversation.id, 'first');
  await waitFor(() => got.some((e) => e.type === 'message.created' && e.data.message === 'first'));
  const resumeFrom = sub.lastEventId;
  sub.close();
  await b.sendMessage(conversation.id, 'while away');
  const again = [];
  const sub2 = a.subscribe((e) => again.push(e), { lastEventId: resumeFrom });
  await waitFor(() => again.some((e) => e.type === 'message.created' && e.data.message === 'while away'));
  assert.ok(!again.some((e) => e.type === 'message.created' && e.data.message === 'first'), 'nothing twice');
  sub2.close();
});

test('subscribe renews an expired access token before connecting, and needs one to start', async () => {
  const { c: fan, user } = await newFan();
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const expired = `${b64({ alg: 'HS256' })}.${b64({ sub: user.id, exp: Math.floor(Date.now() / 1000) - 60 })}.c2ln`;
  const c = client({ token: expired, refreshToken: fan.refreshToken });
  const got = [];
  const states = [];
  const sub = c.subscribe((e) => got.push(e), { onState: (s) => states.push(s) });
  await waitFor(() => got.some((e) => e.type === 'ready'));
  assert.notEqual(c.token, expired, 'renewed');
  assert.equal(states[0], 'open', `no refused handshake first: ${states}`);
  sub.close();
  assert.throws(() => client().subscribe(() => {}), /sign in first/);
  // A session that has ended: told once, and the subscription stops.
  let told = 0;
  const gone = client({ token: expired, refreshToken: 'revoked', onTokenExpired: () => (told += 1) });
  const ended = [];
  gone.subscribe(() => {}, { onState: (s) => ended.push(s) });
  await waitFor(() => ended.includes('closed'));
  assert.equal(told, 1);
});

test('idempotency keys are random UUIDs, also without crypto.randomUUID', () => {
  const seen = new Set([newIdempotencyKey(), newIdempotencyKey()]);
  const original = globalThis.crypto.randomUUID;
  Object.defineProperty(globalThis.crypto, 'randomUUID', { value: undefined, configurable: true });
  try {
    for (let i = 0; i < 100; i += 1) {
      const k = newIdempotencyKey();
      assert.match(k, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(k);
    }
  } finally {
    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: original, configurable: true });
  }
  assert.equal(seen.size, 102);
});

test('formatMoney and addMoney never go through a float', () => {
  assert.equal(formatMoney('1234.50', 'EUR', 'en-US'), '€1,234.50');
  const xof = formatMoney('1500', 'XOF', 'en-US');
  assert.match(xof, /1,500/);
  assert.doesNotMatch(xof, /1,500\./, 'XOF has no minor digits');
  assert.equal(formatMoney('90071992547409.93', 'EUR', 'en-US'), '€90,071,992,547,409.93');
  assert.throws(() => formatMoney('1e3', 'EUR'), TypeError);
  assert.equal(addMoney('0.10', '0.20'), '0.30');
  assert.equal(addMoney('10.00', '-10.50'), '-0.50');
  assert.equal(addMoney('90071992547409.93', '0.01'), '90071992547409.94');
});

async function waitFor(predicate, ms = 5000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
