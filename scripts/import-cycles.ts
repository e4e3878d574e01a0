/**
 * Prints the import cycles among the TypeScript files under the given folders (default: src).
 *   npx tsx scripts/import-cycles.ts            cycles in src/
 *   npx tsx scripts/import-cycles.ts src workflows
 * Every relative import counts, `import type` included: a type-only circle still ties the files
 * together. Exits 1 when there is a cycle.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..');

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec.replace(/\.js$/, ''));
  for (const c of [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(c)) return c;
  }
  return undefined;
}

/** The import graph: file (relative to the repository) to the files it imports. */
export function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap((d) => walk(path.join(root, d)))) {
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((f) => resolve(file, f.fileName))
      .filter((f): f is string => f !== undefined)
      .map((f) => path.relative(root, f));
    graph.set(path.relative(root, file), [...new Set(targets)].sort());
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself), Tarjan's. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** One shortest circle through `start` inside its component, for a readable report. */
export function circleThrough(graph: Map<string, string[]>, scc: string[], start: string): string[] {
  const inScc = new Set(scc);
  const prev = new Map<string, string>();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inScc.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0]!)!);
        return [...path, start];
      }
      if (!seen.has(w)) {
        seen.add(w);
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

if (require.main === module) {
  const dirs = process.argv.slice(2);
  const graph = importGraph(dirs.length > 0 ? dirs : ['src']);
  const found = cycles(graph);
  for (const scc of found) {
    console.log(`cycle of ${scc.length} files: ${scc.join(', ')}`);
    console.log(`  e.g. ${circleThrough(graph, scc, scc[0]!).join(' -> ')}`);
  }
  console.log(`${graph.size} files, ${found.length} cycles`);
  process.exit(found.length > 0 ? 1 : 0);
}
