// The production topology without containers (.ci/topology.sh starts it):
// nginx with deploy/nginx.conf in front of two instances sharing PostgreSQL
// and Redis. PCF_BASE_URL is nginx; PCF_INSTANCE_A and PCF_INSTANCE_B are the
// instances themselves; PCF_KILL_PID is instance A's process, killed mid-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PaieCashFanAPIClient, ApiError, addMoney } from '../src/index.js';

const NGINX = process.env.PCF_BASE_URL;
const A = process.env.PCF_INSTANCE_A;
const B = process.env.PCF_INSTANCE_B;
const KILL_PID = Number(process.env.PCF_KILL_PID);
const ADMIN = { email: process.env.PCF_ADMIN_EMAIL, password: process.env.PCF_ADMIN_PASSWORD };
if (!NGINX || !A || !B || !KILL_PID || !ADMIN.email) {
  throw new Error('run through .ci/topology.sh: PCF_BASE_URL, PCF_INSTANCE_A, PCF_INSTANCE_B, PCF_KILL_PID, PCF_ADMIN_EMAIL');
}

const at = (baseURL, options = {}) => new PaieCashFanAPIClient({ baseURL, ...options });
let n = 0;
async function fan(baseURL = NGINX, options = {}) {
  n += 1;
  const c = at(baseURL, options);
  const email = `topology${n}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`;
  const { user } = await c.register(email, 'topology-password', `Topology ${n}`, 'AS_MONACO');
  return { c, user };
}

/** The same session, talking to another address. */
function via(baseURL, c, options = {}) {
  return at(baseURL, { token: c.token, refreshToken: c.refreshToken, ...options });
}

async function eventually(what, check, ms = 3000) {
  const start = Date.now();
  let last;
  for (;;) {
    last = await check();
    if (last === true) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function healthChecksServed(base) {
  const text = await (await fetch(base.replace(/\/api$/, '/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith('http_requests_total{') && l.includes('route="/api/health"') && l.includes('status="200"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('nginx spreads requests over both instances', async () => {
  const before = [await healthChecksServed(A), await healthChecksServed(B)];
  for (let i = 0; i < 40; i += 1) {
    const r = await fetch(`${NGINX}/health`, { headers: { 'PaieCashFan-Version': '2026-12-01' } });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  }
  const after = [await healthChecksServed(A), await healthChecksServed(B)];
  assert.ok(after[0] > before[0] && after[1] > before[1], `both served some: ${before} -> ${after}`);
  assert.equal(after[0] - before[0] + (after[1] - before[1]), 40);
});

test('a chat message posted on one instance reaches a fan connected to the other', async () => {
  const listener = await fan(A);
  const speaker = await fan(B);
  const { conversation } = await speaker.c.createConversation({ type: 'direct', participantIds: [listener.user.id] });
  const got = [];
  let open;
  const opened = new Promise((r) => (open = r));
  const sub = listener.c.subscribe((e) => got.push(e), { onState: (s) => s === 'open' && open() });
  await opened;
  await eventually('ready', () => got.some((e) => e.type === 'ready'));
  await speaker.c.sendMessage(conversation.id, 'across instances');
  await eventually('the message on the other instance', () => got.some((e) => e.type === 'message.created' && e.data.message === 'across instances'));
  sub.close();
  // And through nginx's WebSocket upgrade.
  const viaNginx = via(NGINX, listener.c);
  const more = [];
  let open2;
  const opened2 = new Promise((r) => (open2 = r));
  const sub2 = viaNginx.subscribe((e) => more.push(e), { onState: (s) => s === 'open' && open2() });
  await opened2;
  await eventually('ready through nginx', () => more.some((e) => e.type === 'ready'));
  await speaker.c.sendMessage(conversation.id, 'through nginx');
  await eventually('the message through nginx', () => more.some((e) => e.type === 'message.created' && e.data.message === 'through nginx'));
  sub2.close();
});

test("an admin's price change is seen through both instances and through nginx", async () => {
  const admin = at(NGINX);
  await admin.login(ADMIN.email, ADMIN.password);
  const { products } = await at(A).getProducts('AS_MONACO');
  const cap = products.find((p) => p.name === 'Casquette Officielle');
  const price = `2${Math.floor(Math.random() * 9)}.${String(Math.floor(Math.random() * 90) + 10)}`;
  assert.notEqual(cap.price, price);
  await admin.updateProduct(cap.id, { price });
  for (const [name, base] of [['A', A], ['B', B], ['nginx', NGINX]]) {
    const ms = await eventually(`the new price through ${name}`, async () => {
      const { products: now } = await at(base).getProducts('AS_MONACO');
      const p = now.find((x) => x.id === cap.id);
      return p.price === price || p.price;
    }, 2500);
    console.log(`price change seen through ${name} after ${ms} ms`);
  }
});

test('killing one instance mid-run loses no acknowledged request', async () => {
  const FANS = 4;
  const fans = [];
  for (let i = 0; i < FANS; i += 1) {
    // Patient retries: a payment whose instance died is taken over once
    // that instance stops beating (seconds).
    fans.push(await fan(NGINX, { retries: 6, retryDelayMs: 150 }));
  }
  const friend = await fan(NGINX);
  const acknowledged = new Map(fans.map((f) => [f.user.id, { deposits: [], sends: [], balance: '0.00' }]));
  const failures = [];
  let stop = false;
  let reads = 0;

  async function worker(f) {
    const mine = acknowledged.get(f.user.id);
    while (!stop) {
      try {
        const d = await f.c.depositMoney('2.00');
        mine.deposits.push(d.transaction.id);
        mine.balance = addMoney(mine.balance, '2.00');
        const s = await f.c.sendMoney(friend.user.id, '0.50');
        mine.sends.push(s.transaction.id);
        mine.balance = addMoney(mine.balance, '-0.50');
        await f.c.getWalletBalance();
        await f.c.getEvents('AS_MONACO');
        reads += 2;
        // A fan's pace, not a flood (nginx limits each address).
        await new Promise((r) => setTimeout(r, 50));
      } catch (e) {
        failures.push(e instanceof ApiError ? `${e.status} ${e.code} ${e.message}` : String(e));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  const running = fans.map(worker);
  await new Promise((r) => setTimeout(r, 1500));
  process.kill(KILL_PID, 'SIGKILL');
  const killedAt = Date.now();
  await new Promise((r) => setTimeout(r, 4000));
  stop = true;
  await Promise.all(running);
  console.log(`killed instance A ${Date.now() - killedAt} ms before the end; ${reads} reads; failures: ${failures.length}`);

  assert.deepEqual(failures, [], 'every request was answered (retried by nginx or by the client)');
  let total = 0;
  for (const f of fans) {
    const mine = acknowledged.get(f.user.id);
    total += mine.deposits.length;
    assert.ok(mine.deposits.length > 0);
    // Every acknowledged payment is in the ledger, exactly once.
    const { balance } = await f.c.getWalletBalance();
    assert.equal(balance, mine.balance, 'the balance is what the acknowledged calls say');
    const history = [];
    let cursor;
    do {
      const page = await f.c.getWalletTransactions({ limit: 100, cursor });
      history.push(...page.transactions);
      cursor = page.nextCursor;
    } while (cursor);
    const ids = new Set(history.map((t) => t.id));
    for (const id of [...mine.deposits, ...mine.sends]) assert.ok(ids.has(id), `acknowledged ${id} is in the history`);
    assert.equal(history.filter((t) => t.type === 'deposit').length, mine.deposits.length, 'no deposit twice');
  }
  assert.ok(total >= FANS * 2, `enough payments ran across the kill (${total})`);
  const admin = at(NGINX);
  await admin.login(ADMIN.email, ADMIN.password);
  const report = await admin.verifyLedger();
  assert.equal(report.ok, true, JSON.stringify(report));
});
