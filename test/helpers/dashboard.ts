/**
 * A small browser stand-in for dashboard HTTP tests: keeps cookies, sends forms with the page's Origin,
 * reads the `_csrf` field of the last page, and never follows redirects (tests check them).
 *
 *   const b = new DashboardClient(t.url);
 *   await b.signUp('ann@example.com', 'correct horse 1', 'Ann Shop');
 *   const r = await b.get('/dashboard/overview');
 *   await b.post('/dashboard/settings/password', { currentPassword: '…', newPassword: '…' }); // _csrf added
 */
import { newId } from '../../src/domain/ids';
import type { TestApp } from './http';

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

export class DashboardClient {
  readonly cookies = new Map<string, string>();
  /** The `_csrf` of the last HTML page fetched. */
  csrf = '';

  constructor(readonly base: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (/max-age=0/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private async read(res: Response): Promise<PageResponse> {
    this.remember(res);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]*)"/.exec(text);
    if (m) this.csrf = m[1]!;
    return { status: res.status, headers: res.headers, text, location: res.headers.get('location') };
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<PageResponse> {
    const res = await fetch(this.base + path, {
      redirect: 'manual',
      headers: { cookie: this.cookieHeader(), ...headers },
    });
    return this.read(res);
  }

  /** Posts a form; `_csrf` is the last page's unless the form gives one (or `null` to leave it out). */
  async post(
    path: string,
    form: Record<string, string | null>,
    opts: { origin?: string | null; headers?: Record<string, string> } = {},
  ): Promise<PageResponse> {
    const body = new URLSearchParams();
    const withCsrf = { _csrf: this.csrf, ...form };
    for (const [k, v] of Object.entries(withCsrf)) if (v !== null) body.set(k, v);
    const origin = opts.origin === undefined ? this.base : opts.origin;
    const res = await fetch(this.base + path, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: this.cookieHeader(),
        ...(origin !== null ? { origin } : {}),
        ...opts.headers,
      },
      body: body.toString(),
    });
    return this.read(res);
  }

  async signUp(email: string, password: string, businessName: string): Promise<PageResponse> {
    await this.get('/dashboard/signup');
    return this.post('/dashboard/signup', { email, password, businessName });
  }

  async logIn(email: string, password: string): Promise<PageResponse> {
    await this.get('/dashboard/login');
    return this.post('/dashboard/login', { email, password });
  }

  /** Loads a signed-in page first so the session's CSRF token is known, then posts. */
  async submit(fromPage: string, path: string, form: Record<string, string>): Promise<PageResponse> {
    const page = await this.get(fromPage);
    if (page.status !== 200) throw new Error(`GET ${fromPage} answered ${page.status}`);
    return this.post(path, form);
  }
}

/** Inserts a payment row as the workflow would leave it (for list, report and page tests). */
export interface PaymentSeed {
  status?: 'pending' | 'success' | 'failed' | 'needs_review';
  amount?: number;
  createdAt?: Date;
  environment?: 'test' | 'live';
  reference?: string;
  phone?: string;
  receipt?: string | null;
  channelId?: string;
  description?: string;
}

export async function seedPayment(t: TestApp, merchantId: string, s: PaymentSeed = {}): Promise<string> {
  const id = newId('payment');
  await t.db
    .insertInto('payments')
    .values({
      id,
      merchant_id: merchantId,
      environment: s.environment ?? 'test',
      channel_id: s.channelId ?? 'ch_seed',
      status: s.status ?? 'success',
      amount: s.amount ?? 100,
      phone: s.phone ?? '254708374149',
      reference: s.reference ?? 'REF',
      description: s.description ?? 'seeded',
      mpesa_receipt:
        s.receipt === undefined
          ? (s.status ?? 'success') === 'success'
            ? `R${id.slice(4, 12).toUpperCase()}`
            : null
          : s.receipt,
      ...(s.createdAt ? { created_at: s.createdAt } : {}),
    })
    .execute();
  return id;
}
