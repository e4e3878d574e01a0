import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { circleThrough, cycles, importGraph } from '../../scripts/import-cycles';

describe('import cycles', () => {
  it('finds a circle, a self-import and leaves a chain alone', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ]);
    assert.deepEqual(cycles(graph), [['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
    assert.deepEqual(circleThrough(graph, ['a.ts', 'b.ts', 'c.ts'], 'a.ts'), [
      'a.ts',
      'b.ts',
      'c.ts',
      'a.ts',
    ]);
  });

  it('src/ has none, type-only imports included', () => {
    const graph = importGraph(['src']);
    assert.ok(graph.size > 100, `walked ${graph.size} files`);
    assert.ok(graph.get('src/http/app.ts')?.includes('src/http/route.ts'), 'relative imports resolve');
    const found = cycles(graph).map((scc) => circleThrough(graph, scc, scc[0]!).join(' -> '));
    assert.deepEqual(found, []);
  });
});
