import { parseExposition, WORKSPACE_ROOT } from '@bodhi/testing';
import { BodhiMetrics } from '@bodhi/services';
import * as fs from 'node:fs';
import * as path from 'node:path';

const DASHBOARD = path.join(WORKSPACE_ROOT, 'deploy/grafana/bodhi-sessions.json');

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string }[];
}

/** What PromQL writes that is no metric name: keywords and aggregation modifiers. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
]);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers,
 * range and subquery brackets, grouping label lists, function names and numbers are taken
 * out. `label_values(metric, label)` (a template query) names its first argument.
 */
function metricNames(expr: string): string[] {
  const labelValues = /^label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(expr);
  if (labelValues) return [labelValues[1]];
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b[a-zA-Z_][\w]*\s*\(/g, '(');
  return (bare.match(/\b[a-zA-Z_:][\w:]*\b/g) ?? []).filter((token) => !KEYWORDS.has(token));
}

describe('the Grafana dashboard (deploy/grafana/bodhi-sessions.json)', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const panels: Panel[] = dashboard.panels.filter((p: Panel) => p.type !== 'row');

  it('uses only metric names a BodhiMetrics registry (with process metrics) exposes', async () => {
    const metrics = new BodhiMetrics();
    metrics.collectProcess();
    const exposed = parseExposition((await metrics.exposition()).body).seriesNames();
    const used = [
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list
        .filter((v: { type: string }) => v.type === 'query')
        .map((v: { name: string; query: { query: string } }) => ({
          where: `$${v.name}`,
          expr: v.query.query,
        })),
    ];
    expect(used.length).toBeGreaterThan(0);
    for (const { where, expr } of used) {
      const names = metricNames(expr);
      // Each expression selects something, and every name it selects is exposed.
      expect({ where, expr, selects: names.length > 0 }).toEqual({ where, expr, selects: true });
      const unknown = names.filter((name) => !exposed.has(name));
      expect({ where, unknown }).toEqual({ where, unknown: [] });
    }
  });

  it('reads every panel from the Prometheus datasource variable', () => {
    const variable = dashboard.templating.list.find(
      (v: { type: string }) => v.type === 'datasource',
    );
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const panel of panels) {
      expect({ panel: panel.title, datasource: panel.datasource }).toEqual({
        panel: panel.title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
      });
    }
  });
});
