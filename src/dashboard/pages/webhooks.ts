/**
 * Webhooks: endpoints (list, register with the signing secret shown once, edit, enable/disable, rotate
 * the secret, delete after a confirmation) and the event log (filtered by type and payment, paged), an
 * event's deliveries with every attempt, and redelivery. Everything through the /v1/webhook-endpoints
 * and /v1/events routes, with their `webhooks:manage` scope and their SSRF guard on URLs.
 */
import type { z } from 'zod';
import { html, type SafeHtml } from '../../http/html';
import {
  createEndpointRoute,
  type DeliverySchema,
  deleteEndpointRoute,
  type EventSchema,
  getEndpointRoute,
  getEventRoute,
  listEndpointsRoute,
  listEventDeliveriesRoute,
  listEventsRoute,
  redeliverEventRoute,
  rotateEndpointSecretRoute,
  updateEndpointRoute,
  type WebhookEndpointSchema,
  type WebhookEndpointWithSecretSchema,
} from '../../http/routes/webhooks';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/repository';
import { callApi } from '../api';
import { checkboxes, confirmPage, dash, formFailure, formValues, onceWarning, shownOnce } from '../dev-pages';
import { emptyState, type FormErrors, field, formError, nairobiTime, pager, select } from '../layout';
import type { PageContext, PageModule } from '../page-types';

type Endpoint = z.output<typeof WebhookEndpointSchema>;
type EndpointWithSecret = z.output<typeof WebhookEndpointWithSecretSchema>;
type Event = z.output<typeof EventSchema>;
type Delivery = z.output<typeof DeliverySchema>;
type Page<T> = { data: T[]; nextCursor: string | null };

const EVENT_OPTIONS = [
  { value: '*', label: 'Every event (*)', hint: 'also types added later' },
  ...WEBHOOK_EVENT_TYPES.map((t) => ({ value: t, label: t })),
];
const SECRET_OVERLAPS = [
  { value: '86400', label: '24 hours (the default)' },
  { value: '3600', label: '1 hour' },
  { value: '604800', label: '7 days' },
  { value: '0', label: 'None: the current secret stops signing now' },
];
const when = (v: string | null) => dash(v, nairobiTime);

const endpointBadge = (e: Endpoint) =>
  e.enabled
    ? html`<span class="badge active">enabled</span>`
    : html`<span class="badge disabled">disabled</span>`;

function endpointTable(list: Endpoint[]): SafeHtml {
  return html`<div class="table-wrap"><table class="stack" id="endpoints"><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead><tbody>
${list.map(
  (e) =>
    html`<tr data-endpoint-id="${e.id}"><td data-label="URL"><a class="mono" href="/dashboard/webhooks/${e.id}">${e.url}</a>${e.description ? html`<br><span class="muted small">${e.description}</span>` : ''}</td><td data-label="Events">${e.events.join(', ')}</td><td data-label="Status">${endpointBadge(e)}${e.disabledReason ? html`<br><span class="muted small">${e.disabledReason}</span>` : ''}</td><td data-label="Created">${when(e.createdAt)}</td></tr>`,
)}
</tbody></table></div>`;
}

function endpointForm(
  ctx: PageContext,
  o: {
    endpoint?: Endpoint;
    url?: string;
    events?: string[];
    description?: string;
    errors?: FormErrors | undefined;
  },
): SafeHtml {
  const f = o.errors?.fields ?? {};
  const action = o.endpoint ? `/dashboard/webhooks/${o.endpoint.id}` : '/dashboard/webhooks';
  return html`${formError(o.errors)}
<form method="post" action="${action}" class="card" id="endpoint-form">
${ctx.csrf}
${field({ name: 'url', label: 'Endpoint URL', value: o.url, hint: ctx.deps.config.isProduction ? 'https only; never a private or loopback address.' : 'http or https; loopback is allowed in development mode.', required: true, autocomplete: 'off', error: f.url })}
${checkboxes({ name: 'events', legend: 'Events to send', options: EVENT_OPTIONS, checked: new Set(o.events ?? []), error: f.events })}
${field({ name: 'description', label: 'Description', value: o.description, hint: 'Optional, for you.', error: f.description })}
<button type="submit" class="primary">${o.endpoint ? 'Save changes' : 'Add endpoint'}</button>
</form>`;
}

function secretBody(e: EndpointWithSecret, note: SafeHtml): SafeHtml {
  return html`${onceWarning}
<section class="card" id="endpoint-secret" aria-labelledby="secret-h"><h2 id="secret-h" class="mono">${e.url}</h2>
${shownOnce({ id: 'new-endpoint-secret', label: 'Signing secret', value: e.secret })}
${note}
<p class="muted small">Verify each delivery with it: the <span class="mono">webhook-signature</span> header (Standard Webhooks) or <span class="mono">x-webhook-signature</span> (see docs/webhooks.md).</p>
<p><a href="/dashboard/webhooks/${e.id}">Back to the endpoint</a></p></section>`;
}

const eventsOf = (ctx: PageContext) => {
  const picked = formValues(ctx, 'events');
  return picked.includes('*') ? ['*'] : picked;
};

const subnav = (current: 'endpoints' | 'events') =>
  html`<nav class="tabs" aria-label="Webhooks"><a href="/dashboard/webhooks"${current === 'endpoints' ? html` aria-current="page"` : ''}>Endpoints</a><a href="/dashboard/webhooks/events"${current === 'events' ? html` aria-current="page"` : ''}>Event log</a></nav>`;

/** An endpoint's page; `failed` re-renders the form that was posted (`edit` or `rotate`) with its errors. */
async function endpointPage(
  ctx: PageContext,
  failed?: { errors: FormErrors; status: number; form: 'edit' | 'rotate' },
) {
  const e = (await callApi<Endpoint>(ctx, getEndpointRoute, { params: { id: ctx.params.id! } })).body;
  const posted = failed?.form === 'edit';
  const rotateErrors = failed?.form === 'rotate' ? failed.errors : undefined;
  const body = html`${subnav('endpoints')}
<dl class="props card" id="endpoint-props">
<dt>Status</dt><dd>${endpointBadge(e)}${e.disabledReason ? html` <span class="muted small">${e.disabledReason}</span>` : ''}</dd>
<dt>Endpoint id</dt><dd class="mono">${e.id}</dd>
<dt>Created</dt><dd>${when(e.createdAt)}</dd>
${e.previousSecretExpiresAt ? html`<dt>Previous secret</dt><dd>signs beside the new one until ${when(e.previousSecretExpiresAt)}</dd>` : ''}
</dl>
<h2>Edit</h2>
${endpointForm(ctx, {
  endpoint: e,
  url: posted ? ctx.form.url : e.url,
  events: posted ? formValues(ctx, 'events') : e.events,
  description: posted ? ctx.form.description : e.description,
  errors: posted ? failed?.errors : undefined,
})}
<section class="card" aria-labelledby="enable-h"><h2 id="enable-h">${e.enabled ? 'Disable' : 'Enable'}</h2>
<p class="muted small">${e.enabled ? 'A disabled endpoint gets no deliveries; pending ones stop.' : 'Deliveries of new events start again.'}</p>
<form method="post" action="/dashboard/webhooks/${e.id}/enabled" id="endpoint-enable-form">${ctx.csrf}<input type="hidden" name="enabled" value="${e.enabled ? 'false' : 'true'}"><button type="submit" class="secondary">${e.enabled ? 'Disable endpoint' : 'Enable endpoint'}</button></form></section>
<section class="card" aria-labelledby="rotate-h"><h2 id="rotate-h">Rotate the signing secret</h2>
${formError(rotateErrors)}
<form method="post" action="/dashboard/webhooks/${e.id}/rotate-secret" id="endpoint-rotate-form" data-confirm="Issue a new signing secret for this endpoint?">${ctx.csrf}
${select({ name: 'overlapSeconds', label: 'Keep signing with the current secret too for', options: SECRET_OVERLAPS, value: '86400', error: rotateErrors?.fields.overlapSeconds })}
<button type="submit" class="secondary">Rotate secret</button></form></section>
<section class="card" aria-labelledby="delete-h"><h2 id="delete-h">Delete</h2>
<p><a class="button secondary" href="/dashboard/webhooks/${e.id}/delete" id="endpoint-delete-link">Delete endpoint…</a></p></section>
<p><a href="/dashboard/webhooks">Back to the endpoints</a></p>`;
  return ctx.render({ title: 'Webhook endpoint', active: 'webhooks', body }, failed?.status ?? 200);
}

function eventFilters(ctx: PageContext, errors?: FormErrors): SafeHtml {
  const f = errors?.fields ?? {};
  return html`<form method="get" action="/dashboard/webhooks/events" class="card filters" id="event-filters" role="search">
${select({ name: 'type', label: 'Type', value: ctx.query.type, error: f.type, options: [{ value: '', label: 'Any type' }, ...WEBHOOK_EVENT_TYPES.map((t) => ({ value: t, label: t }))] })}
${field({ name: 'paymentId', label: 'Payment id', type: 'search', value: ctx.query.paymentId, hint: 'pay_…', error: f.paymentId })}
<div class="field"><button type="submit" class="secondary">Filter</button></div>
</form>`;
}

function eventTable(list: Event[]): SafeHtml {
  const paymentOf = (e: Event) => {
    const d = e.data as { id?: unknown; object?: unknown } | null;
    return d && typeof d.id === 'string' ? d.id : undefined;
  };
  return html`<div class="table-wrap"><table class="stack" id="events"><thead><tr><th scope="col">Created</th><th scope="col">Type</th><th scope="col">Event</th><th scope="col">Object</th></tr></thead><tbody>
${list.map((e) => {
  const pid = paymentOf(e);
  return html`<tr data-event-id="${e.id}"><td data-label="Created">${nairobiTime(new Date(e.created * 1000))}</td><td data-label="Type">${e.type}</td><td data-label="Event"><a class="mono" href="/dashboard/webhooks/events/${e.id}">${e.id}</a></td><td data-label="Object" class="mono">${
    pid?.startsWith('pay_') ? html`<a href="/dashboard/payments/${pid}">${pid}</a>` : (pid ?? '–')
  }</td></tr>`;
})}
</tbody></table></div>`;
}

const deliveryBadge = (s: string) =>
  html`<span class="badge ${s === 'succeeded' ? 'success' : s === 'failed' ? 'failed' : 'pending'}">${s}</span>`;

function deliveryList(list: Delivery[]): SafeHtml {
  if (!list.length) {
    return emptyState(
      'No deliveries',
      html`<p>No endpoint or callback URL was subscribed to this event when it happened.</p>`,
    );
  }
  return html`${list.map(
    (d) => html`<section class="card delivery" data-delivery-id="${d.id}" aria-label="Delivery ${d.id}">
<h3 class="mono">${d.target.url}</h3>
<dl class="props">
<dt>Status</dt><dd>${deliveryBadge(d.status)}${d.failureReason ? html` <span class="muted small">${d.failureReason}</span>` : ''}</dd>
<dt>Target</dt><dd>${d.target.kind === 'endpoint' ? html`endpoint <a class="mono" href="/dashboard/webhooks/${d.target.id}">${d.target.id}</a>` : 'the payment’s callback URL'}</dd>
<dt>Delivery</dt><dd>${d.sequence === 0 ? 'first delivery' : `redelivery ${d.sequence}`} · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}</dd>
${d.nextAttemptAt ? html`<dt>Next attempt</dt><dd>${when(d.nextAttemptAt)}</dd>` : ''}
</dl>
${
  d.attemptLog.length
    ? html`<div class="table-wrap"><table class="stack attempts"><thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Answer</th><th scope="col" class="num">Latency</th><th scope="col">Response</th></tr></thead><tbody>
${d.attemptLog.map(
  (a) =>
    html`<tr><td data-label="#">${a.attempt}</td><td data-label="When">${when(a.attemptedAt)}</td><td data-label="Answer">${a.statusCode === null ? html`<span class="badge failed">no answer</span>` : html`<span class="badge ${a.statusCode < 300 ? 'success' : 'failed'}">HTTP ${a.statusCode}</span>`}${a.error ? html`<br><span class="small">${a.error}</span>` : ''}</td><td data-label="Latency" class="num">${a.latencyMs} ms</td><td data-label="Response"><code class="mono small snippet">${a.responseSnippet || '–'}</code></td></tr>`,
)}
</tbody></table></div>`
    : html`<p class="muted small">No attempt yet.</p>`
}
</section>`,
  )}`;
}

export const webhookPages: PageModule = (pages) => {
  pages.get('/webhooks', async (ctx) => {
    const list = await callApi<Page<Endpoint>>(ctx, listEndpointsRoute, {
      query: { cursor: ctx.query.cursor, limit: 20 },
    });
    const env = ctx.session.environment;
    const body = html`${subnav('endpoints')}
<p class="actions"><a class="button" href="/dashboard/webhooks/new" id="new-endpoint-link">Add an endpoint</a></p>
${
  list.body.data.length
    ? html`${endpointTable(list.body.data)}${pager({ base: '/dashboard/webhooks', query: {}, nextCursor: list.body.nextCursor, isFirstPage: !ctx.query.cursor })}`
    : emptyState(
        `No ${env} endpoints yet`,
        html`<p>An endpoint is a URL of yours that Malipo POSTs signed events to: payments and payouts that succeed, fail or need review.</p>`,
      )
}`;
    return ctx.render({ title: `Webhooks (${env})`, active: 'webhooks', body });
  });

  pages.get(
    '/webhooks/new',
    (ctx) =>
      ctx.render({
        title: 'Add a webhook endpoint',
        active: 'webhooks',
        body: endpointForm(ctx, { events: ['*'] }),
      }),
    { scope: 'webhooks:manage' },
  );

  pages.post('/webhooks', async (ctx) => {
    const url = (ctx.form.url ?? '').trim();
    const description = (ctx.form.description ?? '').trim();
    const events = eventsOf(ctx);
    try {
      const r = await callApi<EndpointWithSecret>(ctx, createEndpointRoute, {
        body: { url, events, ...(description ? { description } : {}) },
      });
      return ctx.render(
        { title: 'Endpoint added', active: 'webhooks', body: secretBody(r.body, html``) },
        201,
      );
    } catch (err) {
      const { errors, status } = formFailure(err);
      if (!url) errors.fields.url = 'Enter the URL';
      if (!events.length) errors.fields.events = 'Choose at least one event';
      return ctx.render(
        {
          title: 'Add a webhook endpoint',
          active: 'webhooks',
          body: endpointForm(ctx, { url, events, description, errors }),
        },
        status,
      );
    }
  });

  // the event log first: `/webhooks/events` is not an endpoint id
  pages.get('/webhooks/events', async (ctx) => {
    const filters = { type: ctx.query.type, paymentId: (ctx.query.paymentId ?? '').trim() };
    let list: Page<Event>;
    try {
      list = (
        await callApi<Page<Event>>(ctx, listEventsRoute, {
          query: { ...filters, cursor: ctx.query.cursor, limit: 20 },
        })
      ).body;
    } catch (err) {
      const { errors, status } = formFailure(err);
      return ctx.render(
        {
          title: 'Event log',
          active: 'webhooks',
          body: html`${subnav('events')}${formError(errors)}${eventFilters(ctx, errors)}`,
        },
        status,
      );
    }
    const filtered = Boolean(filters.type || filters.paymentId);
    const body = html`${subnav('events')}${eventFilters(ctx)}
${
  list.data.length
    ? html`${eventTable(list.data)}${pager({ base: '/dashboard/webhooks/events', query: filters, nextCursor: list.nextCursor, isFirstPage: !ctx.query.cursor })}`
    : emptyState(
        filtered ? 'No events match' : 'No events yet',
        filtered
          ? html`<p><a href="/dashboard/webhooks/events">Show every event</a></p>`
          : html`<p>An event is written when a payment or payout ends (or needs review).</p>`,
      )
}`;
    return ctx.render({ title: `Event log (${ctx.session.environment})`, active: 'webhooks', body });
  });

  pages.get('/webhooks/events/:id', async (ctx) => {
    const params = { id: ctx.params.id! };
    const event = (await callApi<Event>(ctx, getEventRoute, { params })).body;
    const deliveries = (await callApi<{ data: Delivery[] }>(ctx, listEventDeliveriesRoute, { params })).body;
    const endpoints = (await callApi<Page<Endpoint>>(ctx, listEndpointsRoute, { query: { limit: 100 } })).body
      .data;
    const body = html`${subnav('events')}
<dl class="props card" id="event-props">
<dt>Type</dt><dd>${event.type}</dd>
<dt>Created</dt><dd>${nairobiTime(new Date(event.created * 1000))}</dd>
<dt>Event id</dt><dd class="mono">${event.id}</dd>
</dl>
<details class="card"><summary>Body (as every delivery sends it)</summary><pre class="json">${JSON.stringify(event, null, 2)}</pre></details>
<section class="card" aria-labelledby="redeliver-h"><h2 id="redeliver-h">Redeliver</h2>
<p class="muted small">Sends the same event again (same id, same body) with a fresh schedule of attempts.</p>
<form method="post" action="/dashboard/webhooks/events/${event.id}/redeliver" id="redeliver-form">${ctx.csrf}
${select({ name: 'endpointId', label: 'To', value: '', options: [{ value: '', label: 'Every current target' }, ...endpoints.map((e) => ({ value: e.id, label: e.url }))] })}
<button type="submit" class="secondary">Redeliver</button></form></section>
<h2>Deliveries</h2>
${deliveryList(deliveries.data)}
<p><a href="/dashboard/webhooks/events">Back to the event log</a></p>`;
    return ctx.render({ title: 'Event', active: 'webhooks', body });
  });

  pages.post('/webhooks/events/:id/redeliver', async (ctx) => {
    const endpointId = (ctx.form.endpointId ?? '').trim();
    const r = await callApi<{ data: Delivery[] }>(ctx, redeliverEventRoute, {
      params: { id: ctx.params.id! },
      body: endpointId ? { endpointId } : {},
    });
    const n = r.body.data.length;
    ctx.flash(
      n ? 'ok' : 'error',
      n ? `Redelivery started: ${n} deliver${n === 1 ? 'y' : 'ies'}.` : 'This event has no current target.',
    );
    return ctx.redirect(`/dashboard/webhooks/events/${ctx.params.id}`);
  });

  pages.get('/webhooks/:id', (ctx) => endpointPage(ctx));

  pages.post('/webhooks/:id', async (ctx) => {
    const description = (ctx.form.description ?? '').trim();
    try {
      await callApi<Endpoint>(ctx, updateEndpointRoute, {
        params: { id: ctx.params.id! },
        body: { url: (ctx.form.url ?? '').trim(), events: eventsOf(ctx), description },
      });
    } catch (err) {
      const failed = formFailure(err);
      if (!eventsOf(ctx).length) failed.errors.fields.events = 'Choose at least one event';
      return endpointPage(ctx, { ...failed, form: 'edit' });
    }
    ctx.flash('ok', 'Endpoint saved.');
    return ctx.redirect(`/dashboard/webhooks/${ctx.params.id}`);
  });

  pages.post('/webhooks/:id/enabled', async (ctx) => {
    const enabled = ctx.form.enabled === 'true';
    await callApi<Endpoint>(ctx, updateEndpointRoute, { params: { id: ctx.params.id! }, body: { enabled } });
    ctx.flash('ok', enabled ? 'Endpoint enabled.' : 'Endpoint disabled.');
    return ctx.redirect(`/dashboard/webhooks/${ctx.params.id}`);
  });

  pages.post('/webhooks/:id/rotate-secret', async (ctx) => {
    const raw = ctx.form.overlapSeconds ?? '';
    try {
      const r = await callApi<EndpointWithSecret>(ctx, rotateEndpointSecretRoute, {
        params: { id: ctx.params.id! },
        body: raw === '' ? {} : { overlapSeconds: Number(raw) },
      });
      const note = r.body.previousSecretExpiresAt
        ? html`<p id="previous-secret">The previous secret also signs until ${when(r.body.previousSecretExpiresAt)}: deploy the new one before then.</p>`
        : html`<p id="previous-secret">The previous secret no longer signs.</p>`;
      return ctx.render({ title: 'Secret rotated', active: 'webhooks', body: secretBody(r.body, note) }, 201);
    } catch (err) {
      return endpointPage(ctx, { ...formFailure(err), form: 'rotate' });
    }
  });

  pages.get('/webhooks/:id/delete', async (ctx) => {
    const e = (await callApi<Endpoint>(ctx, getEndpointRoute, { params: { id: ctx.params.id! } })).body;
    return confirmPage(ctx, {
      title: 'Delete this endpoint?',
      active: 'webhooks',
      text: html`<p>Delete the endpoint <strong class="mono">${e.url}</strong>? It gets no more deliveries, and its pending ones stop. This cannot be undone.</p>`,
      action: `/dashboard/webhooks/${e.id}/delete`,
      button: 'Delete endpoint',
      back: `/dashboard/webhooks/${e.id}`,
    });
  });

  pages.post('/webhooks/:id/delete', async (ctx) => {
    await callApi(ctx, deleteEndpointRoute, { params: { id: ctx.params.id! } });
    ctx.flash('ok', 'Endpoint deleted.');
    return ctx.redirect('/dashboard/webhooks');
  });
};
