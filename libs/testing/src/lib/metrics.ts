// Prometheus text exposition (format 0.0.4), read back for specs: prom-client writes the
// format but has no reader, and no installed package parses it.

/** One sample line: `name{label="value",...} value`. */
export interface MetricSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** A parsed exposition. */
export interface Exposition {
  samples: MetricSample[];
  /** Each metric family's `# TYPE` (counter, gauge, histogram, summary, untyped). */
  types: ReadonlyMap<string, string>;
  /**
   * The sum of the samples named `name` whose labels include every one of `labels` (a subset
   * match); 0 when none match.
   */
  sum(name: string, labels?: Record<string, string>): number;
  /**
   * Every sample name the declared families can have, observed yet or not: a histogram's
   * `_bucket`, `_sum` and `_count`, a summary's name, `_sum` and `_count`, the name otherwise.
   */
  seriesNames(): Set<string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;
const UNESCAPE: Record<string, string> = { '\\\\': '\\', '\\"': '"', '\\n': '\n' };

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`unreadable labels in exposition line: ${line}`);
    labels[match[1]] = match[2].replace(/\\[\\"n]/g, (escape) => UNESCAPE[escape]);
  }
  return labels;
}

/** A sample value: a Go float, with infinities spelled `+Inf` and `-Inf`. */
const parseValue = (text: string): number =>
  text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);

/** Parses Prometheus text exposition; throws on a line that is neither comment nor sample. */
export function parseExposition(text: string): Exposition {
  const samples: MetricSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const [, keyword, name, type] = trimmed.split(/\s+/);
      if (keyword === 'TYPE') types.set(name, type);
      continue;
    }
    const match = SAMPLE.exec(trimmed);
    if (!match) throw new Error(`unreadable exposition line: ${line}`);
    const [, name, labelText = '', value] = match;
    samples.push({ name, labels: parseLabels(labelText, line), value: parseValue(value) });
  }
  return {
    samples,
    types,
    sum: (name, labels = {}) =>
      samples
        .filter(
          (s) =>
            s.name === name &&
            Object.entries(labels).every(([label, value]) => s.labels[label] === value),
        )
        .reduce((total, s) => total + s.value, 0),
    seriesNames: () => {
      const names = new Set<string>();
      for (const [name, type] of types) {
        const suffixes =
          type === 'histogram'
            ? ['_bucket', '_sum', '_count']
            : type === 'summary'
              ? ['', '_sum', '_count']
              : [''];
        for (const suffix of suffixes) names.add(name + suffix);
      }
      return names;
    },
  };
}

/** GETs `url` (a server's /metrics) and parses the answer; throws unless it is a 200. */
export async function scrapeMetrics(url: string): Promise<Exposition> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape of ${url} answered ${res.status}: ${text}`);
  return parseExposition(text);
}

/**
 * A prom-client counter's or gauge's value per label set, as `label=value,…` (`''` without
 * labels): what a spec compares to what it expects, in process (no scrape).
 */
export async function metricValues(metric: {
  get(): Promise<{ values: { labels: object; value: number }[] }>;
}): Promise<Record<string, number>> {
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map((v) => [
      Object.entries(v.labels)
        .map(([k, l]) => `${k}=${String(l)}`)
        .join(','),
      v.value,
    ]),
  );
}
