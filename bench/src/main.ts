/**
 * `npm run bench [-- --quick] [-- --out <dir>] [-- --only store,http]`: the session store
 * against its peers and the raw drivers (store level, SQLite and PostgreSQL), the server at
 * HTTP level against MemoryStore, the store at 1,000,000 rows, and the SQLite driver
 * comparison. Progress on stderr; the table on stdout and in <out>/latest.md, every number
 * in <out>/latest.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, SECTIONS } from './config.js';
import { ensureBenchDeps } from './deps.js';
import { runDriversBench } from './drivers-bench.js';
import { runHttpBench } from './http-bench.js';
import { runObservabilityBench } from './observability-bench.js';
import { runRedactionBench } from './redaction-bench.js';
import { BenchResults, describeMachine, evaluateTargets, renderMarkdown } from './report.js';
import { runScaleBench } from './scale-bench.js';
import { runStoreBench } from './store-bench.js';
import { cleanUpOnInterrupt, progress, quietNestLogger, wasInterrupted } from './util.js';

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  quietNestLogger();
  cleanUpOnInterrupt();
  const startedAt = new Date();
  const t0 = performance.now();
  progress(
    `${config.mode} run: ${config.sections.join(', ')} → ${path.relative(process.cwd(), config.outDir) || '.'}`,
  );
  ensureBenchDeps();
  const machine = await describeMachine(config.pgUrl);
  progress(
    `${machine.cpus} × ${machine.cpuModel}, ${machine.ramGiB} GiB, Node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}, SQLite ${machine.sqlite}`,
  );
  if (machine.loadAverageAtStart > 0.5)
    progress(
      `warning: load average ${machine.loadAverageAtStart.toFixed(2)} — something else is running; numbers will be noisy`,
    );
  const { outDir: _outDir, pgUrl: _pgUrl, ...publicConfig } = config;
  const results: Omit<BenchResults, 'targets'> = {
    schemaVersion: 1,
    mode: config.mode,
    startedAt: startedAt.toISOString(),
    durationSeconds: 0,
    machine,
    config: publicConfig,
    store: {},
    scale: {},
  };
  const run = (section: (typeof SECTIONS)[number]) => config.sections.includes(section);
  if (run('drivers')) results.drivers = await runDriversBench(config);
  if (run('store')) {
    for (const kind of ['postgres', 'sqlite'] as const)
      results.store[kind] = await runStoreBench(kind, config);
  }
  if (run('http')) results.http = await runHttpBench(config);
  if (run('observability')) results.observability = await runObservabilityBench(config);
  if (run('redaction')) results.redaction = await runRedactionBench(config);
  if (run('scale')) {
    for (const kind of ['postgres', 'sqlite'] as const)
      results.scale[kind] = await runScaleBench(kind, config);
  }
  results.durationSeconds = (performance.now() - t0) / 1000;
  const full: BenchResults = { ...results, targets: evaluateTargets(results) };
  const markdown = renderMarkdown(full);
  fs.mkdirSync(config.outDir, { recursive: true });
  fs.writeFileSync(path.join(config.outDir, 'latest.md'), markdown);
  fs.writeFileSync(path.join(config.outDir, 'latest.json'), `${JSON.stringify(full, null, 2)}\n`);
  process.stdout.write(`${markdown}\n`);
  const missed = full.targets.filter((t) => !t.pass).length;
  progress(
    `done in ${(full.durationSeconds / 60).toFixed(1)} min; ${full.targets.length - missed}/${full.targets.length} targets met; ` +
      `wrote ${path.join(config.outDir, 'latest.md')} and latest.json`,
  );
}

main().then(
  // Peers may leave timers or pools behind; the results are written, so leave.
  () => process.exit(0),
  (err: unknown) => {
    // Interrupted: the cleanup exits with 130; what the half-closed run throws is noise.
    if (wasInterrupted()) return;
    process.stderr.write(
      `[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
