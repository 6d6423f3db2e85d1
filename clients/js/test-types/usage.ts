// Compiled by `npm run typecheck` (tsc --noEmit): the declarations hold
// together with the generated OpenAPI types, and a typical use type-checks.
import { PaieCashFanAPIClient, ApiError, formatMoney, type Money, type Schemas } from '../src/index.js';

async function typicalUse(): Promise<string> {
  const api = new PaieCashFanAPIClient({ baseURL: 'http://localhost:3000/api', onTokenExpired: () => undefined });
  await api.login('demo@paiecashfan.com', 'demo123');
  const { balance, currency } = await api.getWalletBalance();
  const amount: Money = balance;
  // The types are the server's, not `any`: money is a string, never a number.
  // @ts-expect-error balance is a decimal string
  const asNumber: number = balance;
  void asNumber;
  // @ts-expect-error no such field in the answer
  void (await api.getCart()).cart.totalPrice;
  const { events } = await api.getEvents('AS_MONACO');
  const first: Schemas['Event'] | undefined = events[0];
  if (first) {
    const bought = await api.purchaseTicket(first.id, 'standard', first.priceFrom ?? undefined);
    const serial: number = bought.ticket.serial;
    void serial;
  }
  try {
    await api.sendMoney('someone@example.com', '10.00');
  } catch (e) {
    if (e instanceof ApiError && e.code === 'insufficient_funds') return 'top up first';
  }
  return formatMoney(amount, currency);
}

void typicalUse;
