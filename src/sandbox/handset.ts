/** The handset page: a phone's open prompts with Pay (PIN), Cancel and Ignore, as plain HTML forms (no scripts, no external resources). */
import express, { type Request, type Response, type Router } from 'express';
import { maskPhone, normalizePhone } from '../domain/phone';
import { customerAction } from './control';
import { scenarioFor } from './scenarios';
import type { LedgerEntry, SandboxState } from './state';

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const STYLE = `body{font-family:system-ui,sans-serif;max-width:26rem;margin:1rem auto;padding:0 1rem;background:#f4f6f4;color:#1b1b1b}
h1{font-size:1.2rem}.card{background:#fff;border:1px solid #ccc;border-radius:.6rem;padding:1rem;margin:.8rem 0}
.row{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}button{padding:.45rem .9rem;border-radius:.4rem;border:1px solid #888;cursor:pointer}
.pay{background:#2e7d32;color:#fff;border-color:#2e7d32}input{padding:.4rem;width:5.5rem;font-size:1rem}
.msg{background:#fff8d6;border:1px solid #e0c050;padding:.5rem;border-radius:.4rem}.muted{color:#666;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border-bottom:1px solid #ddd;padding:.25rem;text-align:left}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

function promptCard(base: string, phone: string, t: LedgerEntry): string {
  const action = (a: string) => `${base}/phone/${esc(phone)}/prompts/${esc(t.checkoutRequestId)}/${a}`;
  return `<div class="card"><p>Do you want to pay <strong>KES ${esc(t.amount)}</strong> to <strong>${esc(t.shortcode)}</strong>${t.transactionType === 'CustomerBuyGoodsOnline' ? ` (till ${esc(t.partyB)})` : ''}, account <strong>${esc(t.accountReference)}</strong>?</p>
<form method="post" action="${action('pay')}" class="row"><label>M-PESA PIN <input name="pin" type="password" inputmode="numeric" pattern="[0-9]{4}" maxlength="4" required autocomplete="off"></label><button class="pay" type="submit">Pay</button></form>
<div class="row" style="margin-top:.5rem"><form method="post" action="${action('cancel')}"><button type="submit">Cancel</button></form><form method="post" action="${action('ignore')}"><button type="submit">Ignore</button></form></div>
<p class="muted">${esc(t.checkoutRequestId)}</p></div>`;
}

export function createHandsetRouter(state: SandboxState): Router {
  const r = express.Router();
  r.use(express.urlencoded({ extended: false, limit: '8kb' }));

  r.get('/', (req: Request, res: Response) => {
    const base = req.baseUrl.replace(/\/phone$/, '');
    res
      .type('html')
      .send(
        page(
          'Malipo sandbox handset',
          `<h1>Malipo sandbox handset</h1><form method="get" action="${esc(base)}/phone/go" class="row"><label>Phone <input name="msisdn" style="width:10rem" placeholder="0712345678" required></label><button type="submit">Open</button></form>`,
        ),
      );
  });

  r.get('/go', (req: Request, res: Response) => {
    const base = req.baseUrl.replace(/\/phone$/, '');
    const n = normalizePhone(typeof req.query.msisdn === 'string' ? req.query.msisdn : '');
    res.redirect(303, n.ok ? `${base}/phone/${n.msisdn}` : `${base}/phone/`);
  });

  r.get('/:msisdn', (req: Request, res: Response) => {
    const base = req.baseUrl.replace(/\/phone$/, '');
    const n = normalizePhone(req.params.msisdn);
    if (!n.ok) {
      res
        .status(400)
        .type('html')
        .send(page('Invalid phone', `<h1>Invalid phone</h1><p>${esc(n.reason)}</p>`));
      return;
    }
    const phone = n.msisdn;
    const open = state.openPrompts(phone);
    const recent = state.recentPushes(phone).filter((t) => t.status === 'completed');
    const scenario = scenarioFor(phone);
    const msg =
      typeof req.query.msg === 'string' ? `<p class="msg">${esc(req.query.msg.slice(0, 200))}</p>` : '';
    const prompts =
      open.length > 0
        ? open.map((t) => promptCard(base, phone, t)).join('')
        : '<p class="muted">No open prompts. Send an STK push to this number, then <a href="">refresh</a>.</p>';
    const history =
      recent.length > 0
        ? `<h2 style="font-size:1rem">Recent</h2><table><tr><th>Amount</th><th>Account</th><th>Result</th><th>Receipt</th></tr>${recent
            .map(
              (t) =>
                `<tr><td>${esc(t.amount)}</td><td>${esc(t.accountReference)}</td><td>${esc(t.resultCode)} ${esc(t.customerAction)}</td><td>${esc(t.receipt ?? '')}</td></tr>`,
            )
            .join('')}</table>`
        : '';
    res
      .type('html')
      .send(
        page(
          `Handset ${maskPhone(phone)}`,
          `<h1>Handset ${esc(phone)}</h1>${scenario ? `<p class="msg">Scenario phone: the simulated customer ${esc(scenario.label)}; you can still act first.</p>` : ''}${msg}${prompts}<p><a href="">Refresh</a></p>${history}<p class="muted">Any 4-digit PIN pays, except 0000 (a wrong PIN).</p>`,
        ),
      );
  });

  r.post('/:msisdn/prompts/:checkoutRequestId/:action', (req: Request, res: Response) => {
    const base = req.baseUrl.replace(/\/phone$/, '');
    const action = req.params.action;
    const n = normalizePhone(req.params.msisdn);
    const phone = n.ok ? n.msisdn : '';
    let message: string;
    const txn = state.txn(String(req.params.checkoutRequestId));
    if (!n.ok || (action !== 'pay' && action !== 'cancel' && action !== 'ignore'))
      message = 'Unknown action.';
    else if (!txn || txn.phone !== phone) message = 'No such prompt on this phone.';
    else {
      const pin = typeof req.body?.pin === 'string' ? req.body.pin : undefined;
      const err = customerAction(state, txn.checkoutRequestId, action, pin);
      message = err
        ? `Not done: ${err}.`
        : action === 'pay'
          ? pin === '0000'
            ? 'Wrong PIN entered (2001).'
            : 'Paid. The merchant will be told.'
          : action === 'cancel'
            ? 'Cancelled (1032).'
            : 'Ignored: the merchant will hear "user cannot be reached" (1037).';
    }
    res.redirect(
      303,
      `${base}/phone/${encodeURIComponent(phone || String(req.params.msisdn))}?msg=${encodeURIComponent(message)}`,
    );
  });

  return r;
}
