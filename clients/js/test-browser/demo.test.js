// The demo page in a real browser: Playwright (playwright-core) driving the
// system's Chromium (CHROMIUM, default /usr/bin/chromium) against a server
// the test starts. Screenshots go to SCREENSHOTS (default
// ../../target/screenshots), kept by CI as artifacts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { networkInterfaces } from 'node:os';
import { chromium } from 'playwright-core';
import { startServer } from '../test/server.js';
import { PaieCashFanAPIClient } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.SCREENSHOTS || resolve(here, '..', '..', '..', 'target', 'screenshots');
mkdirSync(shots, { recursive: true });

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let server;
let browser;
let origin;

before(async () => {
  // Listening on every address, so the page can also be opened by a
  // non-loopback name (where `upgrade-insecure-requests` used to blank it).
  server = await startServer({ HOST: '0.0.0.0' });
  origin = server.baseURL.replace(/\/api$/, '');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

/** A page that fails the test on any script error or CSP violation. */
async function open(context, url = `${origin}/`) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(url);
  page.problems = problems;
  return page;
}

function clean(page, allowed = []) {
  const left = page.problems.filter((p) => !allowed.some((a) => p.includes(a)));
  assert.deepEqual(left, [], 'no script error or CSP violation');
}

async function signIn(page, email = 'demo@paiecashfan.com', password = 'demo123') {
  await page.fill('#login-form [name=email]', email);
  await page.fill('#login-form [name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#tabs:not([hidden])');
}

async function registered(name) {
  const client = new PaieCashFanAPIClient({ baseURL: server.baseURL });
  const email = `${name.toLowerCase()}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`;
  await client.register(email, 'browser-test-password', name, 'AS_MONACO');
  return { client, email, password: 'browser-test-password' };
}

async function fanJourney(page, label) {
  await signIn(page);
  await page.waitForSelector('[data-testid=balance]:not(:text("…"))');
  const before = await page.textContent('[data-testid=balance]');
  await page.fill('#deposit-form [name=amount]', '25.00');
  await page.click('#deposit-form button');
  await page.waitForFunction((b) => document.querySelector('[data-testid=balance]').textContent !== b, before);
  const after = await page.textContent('[data-testid=balance]');
  const value = (s) => Number(s.replace(/[^\d,.-]/g, '').replace(/\s/g, '').replace(',', '.'));
  assert.equal(Math.round((value(after) - value(before)) * 100), 2500, `${before} -> ${after}`);
  assert.match(await page.textContent('[data-testid=history]'), /25/);

  await page.click('#tabs [data-tab=tickets]');
  await page.waitForSelector('[data-testid=buy-ticket]');
  const ticketsBefore = await page.locator('[data-testid=ticket-qr]').count();
  await page.locator('[data-testid=buy-ticket]').first().click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=ticket-qr]').length === n + 1, ticketsBefore);
  assert.match(await page.textContent('[data-testid=info]'), /Ticket bought/);
  await page.locator('[data-testid=ticket-qr]').first().click();
  const qr = page.locator('[data-testid=qr-image]');
  await qr.waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelector('[data-testid=qr-image]').naturalWidth > 0);
  assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml/);
  assert.match(await page.textContent('#qr-text'), /^PCF1\./);
  await page.screenshot({ path: join(shots, `${label}-ticket-qr.png`), fullPage: true });
  await page.click('#qr-dialog button');
}

test('a fan signs in, deposits, buys a ticket and sees its QR code', async () => {
  const context = await browser.newContext();
  const page = await open(context);
  assert.equal(new URL(page.url()).pathname, '/demo', '/ redirects to the demo');
  await fanJourney(page, 'desktop');
  clean(page);
  await context.close();
});

test('the same on a phone-sized screen, without sideways scrolling', async () => {
  const context = await browser.newContext(PHONE);
  const page = await open(context);
  await fanJourney(page, 'phone');
  for (const tab of ['wallet', 'tickets', 'shop', 'esim', 'chat', 'feed', 'foryou']) {
    await page.click(`#tabs [data-tab=${tab}]`);
    await page.waitForTimeout(150);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${tab} scrolls sideways by ${overflow}px`);
  }
  await page.screenshot({ path: join(shots, 'phone-foryou.png'), fullPage: true });
  clean(page);
  await context.close();
});

test('a chat message sent in one browser appears in another without reloading', async () => {
  const lea = await registered('Lea');
  const demo = new PaieCashFanAPIClient({ baseURL: server.baseURL });
  const { user } = await demo.login('demo@paiecashfan.com', 'demo123');
  const { conversation } = await lea.client.createConversation({ type: 'direct', participantIds: [user.id] });

  const contextA = await browser.newContext();
  const contextB = await browser.newContext(PHONE);
  const a = await open(contextA);
  const b = await open(contextB);
  await signIn(a);
  await signIn(b, lea.email, lea.password);
  for (const page of [a, b]) {
    await page.click('#tabs [data-tab=chat]');
    await page.waitForSelector(`#conversations option[value="${conversation.id}"]`, { state: 'attached' });
    await page.selectOption('#conversations', conversation.id);
    await page.waitForSelector('[data-testid=live-state]:text("live")');
  }
  const text = `Allez Monaco ! ${Date.now()}`;
  await a.fill('#message-form [name=message]', text);
  await a.click('#message-form button');
  await b.waitForSelector(`[data-testid=messages] li:has-text("${text}")`, { timeout: 10_000 });
  await a.waitForSelector(`[data-testid=messages] li:has-text("${text}")`);
  assert.equal(await b.locator(`[data-testid=messages] li:has-text("${text}")`).count(), 1, 'shown once');
  await b.screenshot({ path: join(shots, 'chat-receiver-phone.png'), fullPage: true });
  clean(a);
  clean(b);
  await contextA.close();
  await contextB.close();
});

test('shop, eSIM, feed and recommendations work from the page', async () => {
  const fan = await registered('Shopper');
  await fan.client.depositMoney('200.00');
  const context = await browser.newContext();
  const page = await open(context);
  await signIn(page, fan.email, fan.password);

  await page.click('#tabs [data-tab=shop]');
  const scarf = page.locator('[data-testid=products] li', { hasText: 'Écharpe' });
  await scarf.locator('button').click();
  await page.waitForSelector('[data-testid=cart] li:has-text("Écharpe")');
  await page.click('#checkout');
  await page.waitForFunction(() => /14[.,]99/.test(document.querySelector('[data-testid=orders]').textContent)).catch(async (e) => {
    throw new Error(`${e.message}; page says: ${await page.textContent('[data-testid=error]')} / ${await page.textContent('[data-testid=orders]')}`);
  });

  await page.click('#tabs [data-tab=esim]');
  await page.locator('[data-testid=plans] li', { hasText: 'Europe Starter' }).locator('button').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=qr-image]').naturalWidth > 0);
  assert.match(await page.textContent('#qr-text'), /^LPA:1\$/);
  await page.click('#qr-dialog button');

  await page.click('#tabs [data-tab=feed]');
  const post = `Hâte d'être au stade ${Date.now()}`;
  await page.fill('#post-form [name=content]', post);
  await page.click('#post-form button');
  await page.waitForSelector(`[data-testid=posts] li:has-text("${post}")`);

  await page.click('#tabs [data-tab=foryou]');
  await page.waitForSelector('[data-testid=reason]');
  assert.match(await page.locator('[data-testid=reason]').first().textContent(), /^Why: \S/);
  await page.screenshot({ path: join(shots, 'recommendations.png'), fullPage: true });
  clean(page);
  await context.close();
});

test('a double click on a payment charges once', async () => {
  const fan = await registered('Clicker');
  const context = await browser.newContext();
  const page = await open(context);
  await signIn(page, fan.email, fan.password);
  await page.waitForSelector('[data-testid=history] li');
  await page.fill('#deposit-form [name=amount]', '30.00');
  await page.dblclick('#deposit-form button');
  // The page's own answer ("Deposited …") may already have been replaced
  // by the live notification of the same deposit ("Deposit received …").
  await page.waitForFunction(() => /Deposited|Deposit received/.test(document.querySelector('[data-testid=info]').textContent));
  await page.waitForFunction(() => /30[.,]00/.test(document.querySelector('[data-testid=balance]').textContent));
  await page.waitForTimeout(500);
  assert.equal((await fan.client.getWalletBalance()).balance, '30.00');
  const { transactions } = await fan.client.getWalletTransactions({ limit: 10 });
  assert.equal(transactions.filter((t) => t.type === 'deposit').length, 1);
  clean(page);
  await context.close();
});

test('errors are shown to the person', async () => {
  const context = await browser.newContext();
  const page = await open(context);
  await signIn(page);
  await page.fill('#deposit-form [name=amount]', '12.345');
  await page.click('#deposit-form button');
  const error = page.locator('[data-testid=error]');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /amount/i);
  assert.match(await error.textContent(), /validation_failed/);
  await page.fill('#send-form [name=recipientId]', 'nobody-here@example.com');
  await page.fill('#send-form [name=amount]', '5.00');
  await page.click('#send-form button');
  await page.waitForFunction(() => /not_found|recipient/i.test(document.querySelector('[data-testid=error]').textContent) && !document.querySelector('[data-testid=error]').textContent.includes('validation_failed'));
  // The two refused requests are expected; nothing else may go wrong.
  clean(page, ['Failed to load resource', 'HTTP 422 POST', 'HTTP 404 POST']);
  await context.close();
});

test('gate staff check a ticket in by its pasted code: enter once, refused after', async () => {
  const fan = await registered('Holder');
  await fan.client.depositMoney('100.00');
  const { events } = await fan.client.getEvents('AS_MONACO');
  const { ticket } = await fan.client.purchaseTicket(events[0].id, 'standard');
  const context = await browser.newContext(PHONE);
  const page = await open(context);
  await signIn(page, 'gate@paiecashfan.com', 'gate1234');
  await page.waitForSelector('#gate:not([hidden])');
  await page.fill('#checkin-form [name=qr]', ticket.qrCode);
  await page.click('#checkin-form button');
  await page.waitForSelector('[data-testid=verdict].ok');
  assert.match(await page.textContent('[data-testid=verdict]'), /Enter.*Holder/);
  await page.screenshot({ path: join(shots, 'gate-ok-phone.png'), fullPage: true });
  await page.click('#checkin-form button');
  await page.waitForSelector('[data-testid=verdict].bad');
  assert.match(await page.textContent('[data-testid=verdict]'), /Refused/);
  clean(page);
  await context.close();
});

test('the API docs render over plain HTTP on a non-loopback address', async (t) => {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!address) return t.skip('this machine has no non-loopback IPv4 address');
  const port = new URL(origin).port;
  const context = await browser.newContext();
  const page = await open(context, `http://${address.address}:${port}/docs/`);
  await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
  assert.match(await page.textContent('.swagger-ui .info .title'), /PaieCashFan/);
  assert.equal(await page.locator('.swagger-ui img[src*="validator"]').count(), 0, 'no validator badge');
  const demo = await open(context, `http://${address.address}:${port}/demo`);
  await demo.waitForSelector('#login-form');
  await demo.waitForSelector('#register-club option', { state: 'attached' });
  // Chromium's own note that COOP needs https or localhost, not an error of the page.
  clean(page, ['Cross-Origin-Opener-Policy header has been ignored']);
  clean(demo, ['Cross-Origin-Opener-Policy header has been ignored']);
  await context.close();
});
