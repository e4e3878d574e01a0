/** Every relative link and anchor in README.md, SECURITY.md and docs/**.md points at something that exists. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { anchorsOf, linksOf, markdownPages, ROOT, slug } from '../helpers/markdown';

describe('docs links', () => {
  it('GitHub anchors are computed the way GitHub computes them', () => {
    assert.equal(slug('The sandbox (Daraja simulator)'), 'the-sandbox-daraja-simulator');
    assert.equal(slug('Behind a proxy (`MALIPO_TRUST_PROXY`)'), 'behind-a-proxy-malipo_trust_proxy');
    assert.equal(slug('Balance, transaction status & QR codes'), 'balance-transaction-status--qr-codes');
    assert.deepEqual([...anchorsOf('# A\n```\n# not a heading\n```\n## A\n')], ['a', 'a-1']);
  });

  it('every relative link resolves to a file, and every anchor to a heading of that page', () => {
    const pages = markdownPages();
    assert.ok(pages.includes('README.md') && pages.length > 10, pages.join(', '));
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
      for (const { target, line } of linksOf(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …: not ours to check
        checked++;
        const [file = '', anchor] = target.split('#');
        const resolved =
          file === ''
            ? path.join(ROOT, page)
            : path.resolve(path.dirname(path.join(ROOT, page)), decodeURI(file));
        const where = `${page}:${line} → ${target}`;
        if (!resolved.startsWith(ROOT) || !fs.existsSync(resolved)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === '') continue;
        if (!resolved.endsWith('.md')) {
          broken.push(`${where}: an anchor into a file that is not Markdown`);
          continue;
        }
        if (!anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor))
          broken.push(`${where}: no such heading`);
      }
    }
    assert.deepEqual(broken, [], `${broken.length} broken of ${checked} links:\n${broken.join('\n')}`);
    assert.ok(checked > 20, `only ${checked} relative links found`);
  });
});
