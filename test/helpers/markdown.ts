/** Reading the repository's Markdown: which pages there are, their links, their headings' anchors, their fenced blocks. */
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** README.md, SECURITY.md and every page under docs/, as paths relative to the root. */
export function markdownPages(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.join(dir, e.name);
      return e.isDirectory() ? walk(rel) : e.name.endsWith('.md') ? [rel] : [];
    });
  return ['README.md', 'SECURITY.md', ...walk('docs')].filter((p) => fs.existsSync(path.join(ROOT, p)));
}

export interface FencedBlock {
  /** The info string after the opening fence, e.g. `sh test`. */
  info: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** The fenced code blocks of a page, and its text with them (and inline code) blanked out. */
export function splitMarkdown(text: string): {
  blocks: FencedBlock[];
  prose: string;
  codeLines: Set<number>;
} {
  const blocks: FencedBlock[] = [];
  const prose: string[] = [];
  const codeLines = new Set<number>();
  let open: { fence: string; info: string; line: number; body: string[] } | undefined;
  text.split('\n').forEach((line, i) => {
    const fence = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (open) {
      if (fence && fence[1]!.startsWith(open.fence) && fence[2]!.trim() === '') {
        blocks.push({ info: open.info, body: open.body.join('\n'), line: open.line });
        open = undefined;
      } else open.body.push(line);
      prose.push('');
      codeLines.add(i);
    } else if (fence) {
      open = { fence: fence[1]!, info: fence[2]!.trim(), line: i + 1, body: [] };
      prose.push('');
      codeLines.add(i);
    } else prose.push(line.replace(/`[^`]*`/g, (m) => ' '.repeat(m.length)));
  });
  return { blocks, prose: prose.join('\n'), codeLines };
}

/** GitHub's anchor for a heading text: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a page's headings give (a repeated heading gets -1, -2, …), and explicit `<a id>`s. */
export function anchorsOf(text: string): Set<string> {
  const { prose, codeLines } = splitMarkdown(text);
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of text.split('\n').filter((_, i) => !codeLines.has(i))) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of prose.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** Every Markdown link and image target outside code, with its line. */
export function linksOf(text: string): { target: string; line: number }[] {
  const { prose } = splitMarkdown(text);
  const out: { target: string; line: number }[] = [];
  prose.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ target: m[1]!, line: i + 1 });
    }
    for (const m of line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}
