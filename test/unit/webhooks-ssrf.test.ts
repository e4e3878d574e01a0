/** The SSRF guard: what is refused in production and development mode, at save and at delivery. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalipoError } from '../../src/domain/errors';
import {
  addressRefusal,
  assertWebhookUrlAllowed,
  embeddedIPv4,
  type Resolver,
  resolveWebhookTarget,
} from '../../src/webhooks/ssrf';

const dnsTable: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'rebind.example.com': ['127.0.0.1'],
  'mixed.example.com': ['93.184.216.34', '10.1.2.3'],
  'v6.example.com': ['2606:2800:220:1:248:1893:25c8:1946'],
  'mapped.example.com': ['::ffff:169.254.169.254'],
};
const resolve: Resolver = async (host) => {
  const list = dnsTable[host];
  if (!list) throw new Error(`ENOTFOUND ${host}`);
  return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
const prod = { mode: 'production' as const, resolve };
const dev = { mode: 'development' as const, resolve };

async function refused(url: string, opts: typeof prod | typeof dev, match?: RegExp): Promise<void> {
  await assert.rejects(resolveWebhookTarget(url, opts), (err: unknown) => {
    assert.ok(err instanceof MalipoError);
    assert.equal(err.code, 'VALIDATION_ERROR');
    if (match) assert.match(err.message, match);
    return true;
  });
}

describe('SSRF guard', () => {
  it('refuses the cases the issue names in production mode', async () => {
    await refused('https://10.0.0.1/hook', prod, /private/);
    await refused('https://169.254.169.254/latest/meta-data', prod, /cloud metadata/);
    await refused('https://[::1]/hook', prod, /loopback/);
    await refused('https://rebind.example.com/hook', prod, /resolves to a loopback/);
    await refused('ftp://hooks.example.com/hook', prod, /scheme/);
    await refused('file:///etc/passwd', dev, /scheme/);
    await refused('javascript:alert(1)', dev, /scheme/);
  });

  it('lets a public address through and returns the address to connect to', async () => {
    const t = await resolveWebhookTarget('https://hooks.example.com/mpesa?x=1', prod);
    assert.equal(t.address, '93.184.216.34');
    assert.equal(t.hostname, 'hooks.example.com');
    const v6 = await resolveWebhookTarget('https://v6.example.com/', prod);
    assert.equal(v6.family, 6);
    assert.equal((await resolveWebhookTarget('https://93.184.216.34/', prod)).address, '93.184.216.34');
  });

  it('requires https in production; development allows http and loopback but not the rest', async () => {
    await refused('http://hooks.example.com/hook', prod, /https/);
    await refused('https://localhost/hook', prod, /loopback/);
    assert.equal((await resolveWebhookTarget('http://127.0.0.1:4000/hook', dev)).address, '127.0.0.1');
    assert.equal((await resolveWebhookTarget('http://[::1]:4000/hook', dev)).address, '::1');
    assert.equal((await resolveWebhookTarget('http://rebind.example.com/hook', dev)).address, '127.0.0.1');
    await refused('http://10.0.0.1/hook', dev, /private/);
    await refused('http://169.254.169.254/', dev, /metadata/);
    await refused('http://metadata.google.internal/computeMetadata/v1/', dev, /metadata/);
  });

  it('refuses a name if any of its addresses is refused, and names that do not resolve', async () => {
    await refused('https://mixed.example.com/', prod, /private/);
    await refused('https://mapped.example.com/', prod, /metadata.*IPv4 inside IPv6/);
    await refused('https://nowhere.example.com/', prod, /does not resolve/);
  });

  it('at save time, development mode accepts a name that does not resolve yet; production does not', async () => {
    assert.equal(
      (await assertWebhookUrlAllowed('http://nowhere.example.com/h', dev)).hostname,
      'nowhere.example.com',
    );
    await assert.rejects(assertWebhookUrlAllowed('https://nowhere.example.com/h', prod), /does not resolve/);
    await assert.rejects(assertWebhookUrlAllowed('http://rebind.example.com/h', prod), /https/);
    await assert.rejects(assertWebhookUrlAllowed('https://rebind.example.com/h', prod), /loopback/);
  });

  it('refuses credentials in the URL', async () => {
    await refused('https://user:pw@hooks.example.com/', prod, /credentials/);
  });

  it('classifies every listed range, including IPv4 inside IPv6', () => {
    const bad = [
      '10.255.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '127.0.0.53',
      '169.254.10.10',
      '100.64.0.1',
      '100.127.255.254',
      '0.0.0.0',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'fd00:ec2::254',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::a9fe:a9fe',
      '2002:a00:1::',
      '224.0.0.1',
    ];
    for (const a of bad) assert.ok(addressRefusal(a, false), `${a} should be refused`);
    for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(addressRefusal(a, false), undefined, `${a} should pass`);
    }
    assert.equal(addressRefusal('127.0.0.1', true), undefined);
    assert.equal(addressRefusal('::ffff:127.0.0.1', true), undefined);
    assert.equal(embeddedIPv4('::ffff:a9fe:a9fe'), '169.254.169.254');
  });
});
