/**
 * The measuring parts of `malipo bench dashboard`: the bulk seed inserts exactly N payments that the
 * summary route counts (PGlite and PostgreSQL), and the page weight counts the bytes of a known page and
 * of the assets it names.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { assetUrls, pageWeight, seedPayments, weigh } from '../../src/bench/dashboard';
import type { DatabaseHandle } from '../../src/db';
import { testDatabases } from '../helpers/db';
import { startTestApp, type TestApp } from '../helpers/http';

const N = 1234;

for (const target of testDatabases()) {
  describe(`bench dashboard seed on ${target.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    before(async () => {
      handle = await target.open();
      t = await startTestApp({ db: handle });
    });
    after(async () => {
      await t?.close();
      await handle?.close();
    });

    it('inserts exactly N payments over 30 Nairobi days, and the summary counts each of them', async () => {
      const m = await t.merchant('Bench');
      const other = await t.merchant('Other');
      const seeded = await seedPayments(t.db, m.id, N, new Date(), 500);
      assert.equal(seeded.total, N);
      assert.equal(seeded.success + seeded.failed + seeded.pending + seeded.needsReview, N);
      assert.ok(seeded.failed > 0 && seeded.pending > 0 && seeded.needsReview > 0, JSON.stringify(seeded));

      const rows = await t.db
        .selectFrom('payments')
        .select((e) => e.fn.countAll<number>().as('n'))
        .where('merchant_id', '=', m.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(rows.n), N);

      const s = (await t.request('GET', '/v1/reports/summary', { key: m.key })).body;
      assert.equal(s.last30Days.count, N);
      assert.equal(s.last30Days.succeeded, seeded.success);
      assert.equal(s.last30Days.failed, seeded.failed);
      assert.equal(s.last30Days.volume, seeded.successVolume);
      assert.equal(s.pending, seeded.pending);
      assert.equal(s.needsReview, seeded.needsReview);
      assert.equal(s.daily.length, 30);
      assert.ok(
        s.daily.every((d: { count: number }) => d.count > 0),
        'every one of the 30 days has payments',
      );
      const otherView = (await t.request('GET', '/v1/reports/summary', { key: other.key })).body;
      assert.equal(otherView.last30Days.count, 0);
    });
  });
}

describe('bench dashboard page weight', () => {
  const page =
    '<!doctype html><html><head><link rel="icon" href="/a/icon.svg"><link rel="stylesheet" href="/a/s.css">' +
    '<link rel="preconnect" href="/nothing"><script src="/a/x.js" defer></script></head>' +
    '<body><img src="/a/icon.svg" alt=""><p>héllo</p></body></html>';
  const css = `body { color: #111; }\n${'p { margin: 0 } '.repeat(50)}`;
  const js = 'document.body.dataset.ok = "1";';
  const icon = '<svg xmlns="http://www.w3.org/2000/svg"/>';
  let server: http.Server;
  let base = '';
  const cookies: (string | undefined)[] = [];
  before(async () => {
    const files: Record<string, string> = {
      '/page': page,
      '/a/s.css': css,
      '/a/x.js': js,
      '/a/icon.svg': icon,
      '/broken': '<script src="/a/none.js"></script>',
    };
    server = http.createServer((req, res) => {
      cookies.push(req.headers.cookie);
      const body = files[req.url ?? ''];
      res.statusCode = body === undefined ? 404 : 200;
      res.end(body ?? 'missing');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('names each same-origin asset once, and skips links that load nothing', () => {
    assert.deepEqual(assetUrls(page), ['/a/icon.svg', '/a/s.css', '/a/x.js']);
  });

  it('counts the raw and gzip bytes of the page and of each asset kind', async () => {
    const w = await pageWeight(base, '/page', 'malipo_session=abc');
    const bytes = (s: string) => Buffer.byteLength(s);
    const gz = (s: string) => zlib.gzipSync(Buffer.from(s), { level: 6 }).length;
    assert.equal(w.status, 200);
    assert.deepEqual(w.html, { raw: bytes(page), gzip: gz(page) });
    assert.equal(w.html.raw, page.length + 1, 'é is two bytes');
    assert.deepEqual(w.css, { raw: bytes(css), gzip: gz(css) });
    assert.ok(w.css.gzip < w.css.raw);
    assert.deepEqual(w.js, { raw: bytes(js), gzip: gz(js) });
    assert.deepEqual(w.other, { raw: bytes(icon), gzip: gz(icon) });
    assert.equal(w.total.raw, bytes(page) + bytes(css) + bytes(js) + bytes(icon));
    assert.deepEqual(weigh(js), w.js);
    assert.ok(cookies.every((c) => c === 'malipo_session=abc'));
  });

  it('fails when an asset the page names is missing', async () => {
    await assert.rejects(pageWeight(base, '/broken'), /\/a\/none\.js \(from \/broken\) answered 404/);
  });
});
