// npm run soak [-- --seconds 60 --clients 50 --backends sqlite,postgres]
// Soak: N logged-in clients doing authenticated reads (each also slides the session's expiry,
// a write) against a real server process, on each backend, for a fixed time. Passes with
// zero errors, zero lost sessions, and server RSS at the end within 20% of RSS after warm-up.
// Needs the test PostgreSQL (npm run test:deps:up) for the postgres run. Not part of npm test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { buildForScripts } from './build-for-scripts.mjs';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '50' },
    backends: { type: 'string', default: 'sqlite,postgres' },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const WARMUP_MS = Math.min(10_000, (SECONDS * 1000) / 6);
const log = (msg) => process.stderr.write(`[soak] ${msg}\n`);

log('building…');
const status = buildForScripts();
if (status !== 0) process.exit(status);

const { BodhiClient, DEMO_ADMIN, DEMO_USER, percentile, startStack } =
  await import('@bodhi/testing');

const rssMb = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function soak(backend) {
  // Short tokens: the soak exercises refreshes too.
  const stack = await startStack({ backend, accessTokenTtlSeconds: 20 });
  const [server] = stack.servers;
  try {
    log(`${backend}: logging in ${CLIENTS} clients`);
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = new BodhiClient(server.url);
      const { username, password } = i % 2 ? DEMO_ADMIN : DEMO_USER;
      await c.login(username, password);
      clients.push(c);
    }
    const latencies = [];
    let requests = 0;
    let errors = 0;
    let rssWarm = 0;
    const t0 = Date.now();
    const end = t0 + SECONDS * 1000;
    const warmTimer = setTimeout(() => {
      rssWarm = rssMb(server.pid);
      latencies.length = 0;
      log(`${backend}: warm-up done, RSS ${rssWarm.toFixed(1)} MB`);
    }, WARMUP_MS);
    await Promise.all(
      clients.map(async (c) => {
        while (Date.now() < end) {
          const s = performance.now();
          const res = await c.user().catch(() => ({ status: 0, body: {} }));
          latencies.push(performance.now() - s);
          requests++;
          if (res.status !== 200 || res.body.auth_status !== 'logged_in') errors++;
        }
      }),
    );
    clearTimeout(warmTimer);
    const rssEnd = rssMb(server.pid);
    const stillIn = await Promise.all(clients.map((c) => c.user()));
    const lost = stillIn.filter((r) => r.body.auth_status !== 'logged_in').length;
    return {
      backend,
      requests,
      errors,
      lost,
      rps: requests / SECONDS,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      rssWarm,
      rssEnd,
      growth: rssWarm ? rssEnd / rssWarm - 1 : NaN,
    };
  } finally {
    await stack.stop();
  }
}

const results = [];
for (const backend of args.backends.split(',')) {
  log(`${backend}: ${CLIENTS} clients for ${SECONDS} s`);
  results.push(await soak(backend));
}
const ok = (r) => r.errors === 0 && r.lost === 0 && r.growth <= 0.2;
console.log(
  `\nSoak: ${CLIENTS} logged-in clients, ${SECONDS} s per backend, ${os.cpus().length} cores\n`,
);
console.log(
  '| backend | requests | req/s | p50 ms | p99 ms | errors | lost sessions | RSS warm MB | RSS end MB | growth | result |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of results) {
  console.log(
    `| ${r.backend} | ${r.requests} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.lost} | ` +
      `${r.rssWarm.toFixed(1)} | ${r.rssEnd.toFixed(1)} | ${(r.growth * 100).toFixed(1)}% | ${ok(r) ? 'pass' : 'FAIL'} |`,
  );
}
process.exitCode = results.every(ok) ? 0 : 1;
