import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BenchEvent, countActions, percentile, ratio, summarize } from '../../src/bench/stats';
import { latencyChartSvg, niceScale } from '../../src/bench/svg';

describe('bench percentiles', () => {
  it('uses the nearest rank and leaves the input alone', () => {
    const xs = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    assert.equal(percentile(xs, 50), 5);
    assert.equal(percentile(xs, 90), 9);
    assert.equal(percentile(xs, 99), 10);
    assert.equal(percentile(xs, 0), 1);
    assert.equal(percentile(xs, 100), 10);
    assert.deepEqual(xs, [5, 1, 4, 2, 3, 6, 7, 8, 9, 10]);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('summarizes count, p50, p90, p99, max and mean', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(summarize(xs), { count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    assert.equal(summarize([]).count, 0);
    assert.equal(ratio(10, 0), null);
    assert.equal(ratio(10, 4), 2.5);
  });
});

describe('bench action counting', () => {
  const ev = (type: string, extra: Partial<BenchEvent> = {}): BenchEvent => ({ type, ...extra });

  it('counts the documented rules for an Update-with-Start payment', () => {
    const history: BenchEvent[] = [
      ev('WORKFLOW_EXECUTION_STARTED'),
      ev('WORKFLOW_TASK_SCHEDULED'),
      ev('WORKFLOW_TASK_STARTED'),
      ev('WORKFLOW_TASK_COMPLETED'),
      ev('WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
      ev('ACTIVITY_TASK_SCHEDULED'),
      ev('ACTIVITY_TASK_STARTED', { attempt: 3 }), // two retries
      ev('ACTIVITY_TASK_COMPLETED'),
      ev('WORKFLOW_EXECUTION_UPDATE_COMPLETED'),
      ev('MARKER_RECORDED', { markerName: 'core_local_activity', workflowTaskCompletedEventId: '10' }),
      ev('MARKER_RECORDED', { markerName: 'core_local_activity', workflowTaskCompletedEventId: '10' }),
      ev('MARKER_RECORDED', { markerName: 'core_patch', workflowTaskCompletedEventId: '10' }),
      ev('TIMER_STARTED'),
      ev('WORKFLOW_EXECUTION_SIGNALED'),
      ev('TIMER_CANCELED'),
      ev('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'),
      ev('MARKER_RECORDED', { markerName: 'core_local_activity', workflowTaskCompletedEventId: '20' }),
      ev('WORKFLOW_EXECUTION_COMPLETED'),
    ];
    const a = countActions(history);
    assert.deepEqual(a.byKind, {
      workflowStarted: 1,
      update: 1,
      activity: 1,
      activityRetry: 2,
      localActivityTask: 2,
      timer: 1,
      signal: 1,
      searchAttributeUpsert: 1,
    });
    assert.equal(a.total, 10);
  });

  it('counts child workflows as two and ignores free events', () => {
    const a = countActions([
      ev('START_CHILD_WORKFLOW_EXECUTION_INITIATED'),
      ev('TIMER_FIRED'),
      ev('WORKFLOW_TASK_COMPLETED'),
      ev('ACTIVITY_TASK_STARTED', { attempt: 1 }),
    ]);
    assert.equal(a.total, 2);
  });
});

describe('bench latency chart', () => {
  it('picks round axis bounds', () => {
    assert.deepEqual(niceScale(87), { max: 100, step: 20 });
    assert.deepEqual(niceScale(0), { max: 1, step: 0.2 });
  });

  it('draws one path per series, skips NaN points and escapes text', () => {
    const svg = latencyChartSvg(
      [
        {
          name: 'POST p99',
          color: '#00f',
          points: [
            [10, 12],
            [50, Number.NaN],
            [100, 80],
          ],
        },
        {
          name: 'e2e <p99>',
          color: '#f00',
          dashed: true,
          points: [
            [10, 100],
            [50, 140],
          ],
        },
      ],
      { title: 'Latency & load', guides: [{ y: 150, label: 'target' }] },
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<path /g) ?? []).length, 2);
    assert.equal((svg.match(/<circle /g) ?? []).length, 4);
    assert.match(svg, /Latency &amp; load/);
    assert.match(svg, /e2e &lt;p99&gt;/);
    assert.match(svg, /stroke-dasharray="6 4"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.doesNotMatch(svg, /NaN/);
  });
});
