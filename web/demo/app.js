// The PaieCashFan demo page: every capability of the API by hand, through the
// JavaScript client (served from clients/js as /demo/client.js). No framework,
// no build step, nothing from a CDN; errors are shown, never swallowed.
import { PaieCashFanAPIClient, ApiError, formatMoney, newIdempotencyKey } from '/demo/client.js';

const $ = (selector) => document.querySelector(selector);
const STORE = 'paiecashfan.demo.tokens';

const api = new PaieCashFanAPIClient({
  baseURL: `${location.origin}/api`,
  ...loadTokens(),
  onTokens: saveTokens,
  onTokenExpired: () => {
    showError('Your session ended: please sign in again.');
    signedOut();
  },
});

let me = null;
let live = null;
let currentConversation = null;
const seenMessages = new Set();

function loadTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

function saveTokens(tokens) {
  if (tokens.token) sessionStorage.setItem(STORE, JSON.stringify(tokens));
  else sessionStorage.removeItem(STORE);
}

// ---- feedback -------------------------------------------------------------

function describe(error) {
  if (error instanceof ApiError) {
    const fields = error.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return `${error.message}${fields ? ` (${fields})` : ''} [${error.code}]`;
  }
  return error && error.message ? error.message : String(error);
}

function showError(message) {
  const box = $('#error');
  box.textContent = message;
  box.hidden = false;
  $('#info').hidden = true;
}

function showInfo(message) {
  const box = $('#info');
  box.textContent = message;
  box.hidden = false;
  $('#error').hidden = true;
}

/** Runs an action; a failure is shown to the person. */
async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    showError(describe(error));
    return undefined;
  }
}

function money(amount, currency) {
  try {
    return formatMoney(amount, currency);
  } catch {
    return `${amount} ${currency}`;
  }
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** A list item built from text only (never HTML from the API). */
function item(text, ...actions) {
  const li = document.createElement('li');
  const span = document.createElement('span');
  span.className = 'what';
  span.textContent = text;
  li.append(span, ...actions);
  return li;
}

function button(label, onClick, testId) {
  const b = document.createElement('button');
  b.textContent = label;
  if (testId) b.dataset.testid = testId;
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await attempt(onClick);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/**
 * A payment the person asks for: one Idempotency-Key per intent, kept while
 * no definite answer came (no answer, or a 5xx), so asking again after a
 * network error charges once; a new one once the server has answered.
 */
const unanswered = new Map();
async function pay(intent, call) {
  const id = JSON.stringify(intent);
  const idempotencyKey = unanswered.get(id) || newIdempotencyKey();
  unanswered.set(id, idempotencyKey);
  try {
    const result = await call({ idempotencyKey });
    unanswered.delete(id);
    return result;
  } catch (error) {
    if (error instanceof ApiError && error.status >= 400 && error.status < 500) unanswered.delete(id);
    throw error;
  }
}

/** A form submitted once at a time: its buttons are off while it runs. */
function onSubmit(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    try {
      await attempt(() => action(form));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}

function fill(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [item(empty)]));
}

async function showQR(title, blob, text) {
  const dataURL = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  $('#qr-title').textContent = title;
  // A data: URL, which the CSP allows for images (blob: it does not).
  $('#qr-image').src = dataURL;
  $('#qr-text').textContent = text || '';
  $('#qr-dialog').showModal();
}

// ---- session ----------------------------------------------------------------

async function signedIn() {
  me = (await api.getMe()).user;
  $('#who').textContent = `${me.name} (${me.role}${me.staffClubId ? ` · ${me.staffClubId}` : ''})`;
  $('#signin').hidden = true;
  $('#tabs').hidden = false;
  $('#signout').hidden = false;
  $('#gate-tab').hidden = !(me.role === 'staff' || me.role === 'admin');
  startLive();
  openTab(me.role === 'staff' ? 'gate' : 'wallet');
}

function signedOut() {
  me = null;
  if (live) live.close();
  live = null;
  $('#who').textContent = '';
  $('#signin').hidden = false;
  $('#tabs').hidden = true;
  $('#signout').hidden = true;
  for (const tab of document.querySelectorAll('.tab')) tab.hidden = true;
}

onSubmit($('#login-form'), async (form) => {
  await api.login(form.email.value, form.password.value);
  await signedIn();
  showInfo('Signed in.');
});

onSubmit($('#register-form'), async (form) => {
  const field = (name) => form.elements.namedItem(name).value;
  await api.register(field('email'), field('password'), field('name'), field('clubId'));
  await signedIn();
  showInfo('Welcome! Your account is ready.');
});

$('#signout').addEventListener('click', () =>
  attempt(async () => {
    await api.logout();
    signedOut();
    showInfo('Signed out.');
  }),
);

// ---- tabs -------------------------------------------------------------------

const loaders = {
  wallet: loadWallet,
  tickets: loadTickets,
  shop: loadShop,
  esim: loadEsim,
  chat: loadChat,
  feed: loadFeed,
  foryou: loadForYou,
  gate: async () => {},
};

function openTab(name) {
  for (const tab of document.querySelectorAll('.tab')) tab.hidden = tab.id !== name;
  for (const b of document.querySelectorAll('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  attempt(loaders[name]);
}

for (const b of document.querySelectorAll('#tabs button')) {
  b.addEventListener('click', () => openTab(b.dataset.tab));
}

async function clubOptions(select, selected) {
  if (select.options.length) return;
  const { clubs } = await api.getClubs();
  for (const club of clubs) select.add(new Option(club.name, club.id, false, club.id === selected));
}

// ---- wallet -------------------------------------------------------------------

async function loadWallet() {
  const [balance, history] = await Promise.all([api.getWalletBalance(), api.getWalletTransactions({ limit: 20 })]);
  $('#balance').textContent = money(balance.balance, balance.currency);
  fill(
    $('#history'),
    history.transactions.map((t) => {
      const li = item(`${when(t.createdAt)} · ${t.description}`);
      const amount = document.createElement('strong');
      amount.className = t.direction === 'out' ? 'neg' : 'pos';
      amount.textContent = `${t.direction === 'out' ? '−' : '+'}${money(t.amount, t.currency)}`;
      li.append(amount);
      return li;
    }),
    'No transactions yet.',
  );
}

onSubmit($('#deposit-form'), async (form) => {
  const amount = form.amount.value.trim();
  const r = await pay(['deposit', amount], (o) => api.depositMoney(amount, 'card', o));
  form.reset();
  showInfo(`Deposited ${money(r.transaction ? r.transaction.amount : r.payment.amount, r.currency)}: new balance ${money(r.newBalance, r.currency)}.`);
  await loadWallet();
});

onSubmit($('#send-form'), async (form) => {
  const to = form.recipientId.value.trim();
  const amount = form.amount.value.trim();
  const r = await pay(['send', to, amount], (o) => api.sendMoney(to, amount, 'EUR', o));
  form.reset();
  showInfo(`Sent. New balance ${money(r.newBalance, r.currency)}.`);
  await loadWallet();
});

// ---- matches and tickets ----------------------------------------------------------

async function loadTickets() {
  await clubOptions($('#events-club'), (me && me.clubId) || 'AS_MONACO');
  const [{ events }, { tickets }] = await Promise.all([api.getEvents($('#events-club').value), api.getMyTickets()]);
  fill(
    $('#events'),
    events.map((e) => {
      const li = item(`${e.homeTeam} – ${e.awayTeam} · ${e.competition} · ${when(e.kickoff)} · ${e.venue}`);
      for (const c of e.categories) {
        li.append(
          button(
            `${c.name} ${money(c.price, c.currency)} (${c.available} left)`,
            async () => {
              // The price shown is a guard: if it changed, nothing is charged (409).
              const r = await pay(['ticket', e.id, c.name, c.price], (o) => api.purchaseTicket(e.id, c.name, c.price, o));
              showInfo(`Ticket bought: ${r.ticket.category}, seat #${r.ticket.serial}. New balance ${money(r.newBalance, r.currency)}.`);
              await loadTickets();
            },
            'buy-ticket',
          ),
        );
      }
      return li;
    }),
    'No upcoming match for this club.',
  );
  fill(
    $('#my-tickets'),
    tickets.map((t) =>
      item(
        `${t.event.homeTeam} – ${t.event.awayTeam} · ${t.category} #${t.serial} · ${t.status}`,
        button('QR code', async () => showQR(`${t.event.homeTeam} – ${t.event.awayTeam}`, await api.getTicketQRImage(t.id, 'svg'), t.qrCode), 'ticket-qr'),
      ),
    ),
    'No tickets yet.',
  );
}

$('#events-club').addEventListener('change', () => attempt(loadTickets));

// ---- shop ---------------------------------------------------------------------------

async function loadShop() {
  await clubOptions($('#shop-club'), (me && me.clubId) || 'AS_MONACO');
  const [{ products }, { cart }, { orders }] = await Promise.all([
    api.getProducts($('#shop-club').value),
    api.getCart(),
    api.getOrders({ limit: 10 }),
  ]);
  fill(
    $('#products'),
    products.map((p) => {
      const li = item(`${p.name} · ${money(p.price, p.currency)}${p.compareAtPrice ? ` (was ${money(p.compareAtPrice, p.currency)})` : ''}`);
      const sized = p.variants.some((v) => v.size);
      let size = null;
      if (sized) {
        size = document.createElement('select');
        size.setAttribute('aria-label', 'Size');
        for (const v of p.variants) size.add(new Option(`${v.size}${v.stock ? '' : ' (sold out)'}`, v.id));
        li.append(size);
      }
      li.append(
        button(p.inStock ? 'Add to cart' : 'Sold out', async () => {
          await api.addToCart(p.id, 1, size ? size.value : undefined);
          showInfo(`${p.name} added to the cart.`);
          await loadShop();
        }),
      );
      return li;
    }),
    'No products.',
  );
  fill(
    $('#cart'),
    cart.items.map((i) =>
      item(
        `${i.quantity} × ${i.name || i.productId}${i.size ? ` (${i.size})` : ''}`,
        button('Remove', async () => {
          await api.removeCartItem(i.id);
          await loadShop();
        }),
      ),
    ),
    'The cart is empty.',
  );
  $('#cart-total').textContent = cart.currency ? money(cart.total, cart.currency) : '—';
  $('#checkout').disabled = cart.items.length === 0;
  $('#checkout').dataset.total = cart.total;
  fill(
    $('#orders'),
    orders.map((o) => item(`${when(o.createdAt)} · ${o.lines.map((l) => `${l.quantity} × ${l.name}`).join(', ')} · ${money(o.total, o.currency)} · ${o.status}`)),
    'No orders yet.',
  );
}

$('#shop-club').addEventListener('change', () => attempt(loadShop));
$('#checkout').addEventListener('click', async () => {
  $('#checkout').disabled = true;
  await attempt(async () => {
    // The total shown guards the charge: a price that changed since is a 409.
    const total = $('#checkout').dataset.total;
    const r = await pay(['checkout', total], (o) => api.checkout(total, o));
    showInfo(`Order placed: ${money(r.order.total, r.currency)}. New balance ${money(r.newBalance, r.currency)}.`);
  });
  // loadShop enables it again when the cart has items.
  await attempt(loadShop);
});

// ---- eSIM -----------------------------------------------------------------------------

async function loadEsim() {
  const [{ plans }, { esims }] = await Promise.all([api.getESIMPlans(), api.getESIMs()]);
  fill(
    $('#plans'),
    plans.map((p) =>
      item(
        `${p.name} · ${p.data} · ${p.validity} · ${p.countries.length} countries · ${money(p.price, p.currency)}${p.popular ? ' ★' : ''}`,
        button('Buy', async () => {
          const r = await pay(['esim', p.id], (o) => api.activateESIM(p.id, o));
          showInfo(`eSIM ready. New balance ${money(r.newBalance, r.currency)}.`);
          await showQR(r.esim.plan.name, await api.getESIMQRImage(r.esim.id, 'svg'), r.esim.activationCode);
          await loadEsim();
        }),
      ),
    ),
    'No plans.',
  );
  fill(
    $('#my-esims'),
    esims.map((e) =>
      item(
        `${e.plan.name} · ${e.status} · ${Math.round(e.dataUsedMb)} / ${e.unlimited ? '∞' : e.dataTotalMb} MB`,
        button('QR code', async () => showQR(e.plan.name, await api.getESIMQRImage(e.id, 'svg'), e.activationCode)),
      ),
    ),
    'No eSIMs yet.',
  );
}

// ---- chat ---------------------------------------------------------------------------------

async function loadChat() {
  const { conversations } = await api.getConversations();
  const select = $('#conversations');
  const previous = currentConversation;
  select.replaceChildren(
    ...conversations.map((c) => {
      const others = (c.members || []).filter((m) => !me || m.id !== me.id).map((m) => m.name);
      const label = c.name || others.join(', ') || 'Conversation';
      return new Option(`${label}${c.unreadCount ? ` (${c.unreadCount})` : ''}`, c.id);
    }),
  );
  if (previous && conversations.some((c) => c.id === previous)) select.value = previous;
  await showConversation(select.value || null);
}

async function showConversation(id) {
  currentConversation = id;
  seenMessages.clear();
  const list = $('#messages');
  list.replaceChildren();
  if (!id) return;
  const { messages } = await api.getMessages(id, { limit: 50 });
  for (const m of messages.slice().reverse()) appendMessage(m);
  if (messages.length) await api.markConversationRead(id);
}

function appendMessage(m) {
  if (m.conversationId !== currentConversation || seenMessages.has(m.id)) return;
  seenMessages.add(m.id);
  const li = document.createElement('li');
  li.className = me && m.userId === me.id ? 'mine' : '';
  const who = document.createElement('strong');
  who.textContent = `${(m.author && m.author.name) || 'someone'}: `;
  const text = document.createElement('span');
  text.textContent = m.deleted ? '(deleted)' : m.message;
  li.append(who, text);
  const list = $('#messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

$('#conversations').addEventListener('change', (event) => attempt(() => showConversation(event.target.value)));
$('#join-room').addEventListener('click', () =>
  attempt(async () => {
    await api.joinClubRoom((me && me.clubId) || 'AS_MONACO');
    await loadChat();
  }),
);
onSubmit($('#message-form'), async (form) => {
  if (!currentConversation) throw new Error('Choose a conversation first.');
  const r = await api.sendMessage(currentConversation, form.message.value);
  form.message.value = '';
  appendMessage(r.data);
});

function startLive() {
  if (live) live.close();
  live = api.subscribe(
    (event) => {
      if (event.type === 'message.created') appendMessage(event.data);
      if (event.type === 'notification.created') showInfo(event.data.title ? `${event.data.title}: ${event.data.body}` : 'New notification');
    },
    {
      onState: (state) => {
        const pill = $('#live-state');
        pill.textContent = state === 'open' ? 'live' : state;
        pill.className = `pill ${state}`;
      },
    },
  );
}

// ---- feed ------------------------------------------------------------------------------------

async function loadFeed() {
  const { feed } = await api.getFeed({ limit: 20 });
  fill(
    $('#posts'),
    feed.map((p) =>
      item(
        `${p.author.name} · ${when(p.timestamp)} — ${p.content} (${p.likes} ♥, ${p.comments} comments)`,
        button(p.liked ? 'Unlike' : 'Like', async () => {
          if (p.liked) await api.unlikePost(p.id);
          else await api.likePost(p.id);
          await loadFeed();
        }),
      ),
    ),
    'Nothing in your feed yet: follow a club.',
  );
}

onSubmit($('#post-form'), async (form) => {
  // Staff post as their club; a fan posts as themselves.
  await api.createPost({ content: form.content.value, ...(me && me.staffClubId ? { clubId: me.staffClubId } : {}) });
  form.content.value = '';
  await loadFeed();
});

// ---- recommendations -----------------------------------------------------------------------------

async function loadForYou() {
  const { recommendations } = await api.getAIRecommendations(10);
  fill(
    $('#recommendations'),
    recommendations.map((r) => {
      const li = item(`${r.title} — ${r.subtitle}`);
      const why = document.createElement('span');
      why.className = 'muted';
      why.textContent = `Why: ${r.reason}`;
      why.dataset.testid = 'reason';
      li.append(why);
      return li;
    }),
    'No recommendations yet.',
  );
}

// ---- gate (staff) -----------------------------------------------------------------------------------

async function checkIn(code) {
  const verdict = $('#verdict');
  const r = await api.checkIn(code.trim());
  verdict.hidden = false;
  verdict.className = `verdict ${r.status === 'ok' ? 'ok' : 'bad'}`;
  const who = r.ticket ? ` — ${r.ticket.holderName}, ${r.ticket.category} #${r.ticket.serial}` : '';
  verdict.textContent = `${r.status === 'ok' ? '✔ Enter' : '✘ Refused'}: ${r.reason}${who}`;
}

onSubmit($('#checkin-form'), (form) => checkIn(form.qr.value));

let scanning = null;
let detecting = false;
$('#scan').addEventListener('click', () =>
  attempt(async () => {
    if (scanning) return; // one camera at a time
    // Chromium on Android and macOS reads QR codes natively; elsewhere the
    // code can be pasted.
    if (!('BarcodeDetector' in window)) throw new Error('This browser cannot read QR codes from the camera: paste the code below.');
    if (!navigator.mediaDevices) throw new Error('No camera here (the page needs https or localhost).');
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    const video = $('#camera');
    video.srcObject = stream;
    video.hidden = false;
    $('#scan-stop').hidden = false;
    await video.play();
    scanning = setInterval(async () => {
      // One detection at a time, and one check-in per code read.
      if (detecting) return;
      detecting = true;
      try {
        const codes = await detector.detect(video).catch(() => []);
        if (codes.length && scanning) {
          stopScan();
          $('#checkin-form').qr.value = codes[0].rawValue;
          await attempt(() => checkIn(codes[0].rawValue));
        }
      } finally {
        detecting = false;
      }
    }, 300);
  }),
);

function stopScan() {
  clearInterval(scanning);
  scanning = null;
  const video = $('#camera');
  if (video.srcObject) for (const track of video.srcObject.getTracks()) track.stop();
  video.srcObject = null;
  video.hidden = true;
  $('#scan-stop').hidden = true;
}
$('#scan-stop').addEventListener('click', stopScan);

// ---- start ----------------------------------------------------------------------------------------------

attempt(async () => {
  await clubOptions($('#register-club'), 'AS_MONACO');
  if (api.token) await signedIn();
});
