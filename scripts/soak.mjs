// npm run soak [-- --seconds 60 --clients 50 --backends sqlite,postgres]
// Soak: N logged-in clients doing authenticated reads (each also slides the session's expiry,
// a write) against a real server process, on each backend, for a fixed time. Passes with
// zero errors, zero lost sessions, and server RSS at the end within 20% of RSS after warm-up.
// Needs the test PostgreSQL (npm run test:deps:up) for the postgres run. Not part of npm test.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
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

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
log('building…');
const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '-p', 'bodhi-server', 'dev-auth-server', 'services'], {
  cwd: root,
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (build.status !== 0) process.exit(build.status ?? 1);

const { createTestSessionDb, freePort, TEST_SECRET } = await import('@bodhi/services/testing');
const { loginThroughForm } = await import(path.join(root, 'apps/dev-auth-server/dist/testing/code-flow.js'));

function start(script, childEnv) {
  const child = spawn(process.execPath, [path.join(root, script)], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.output = () => output.slice(-3000);
  return child;
}

async function waitFor(url, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`process exited:\n${child.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

class Client {
  constructor(base) {
    this.base = base;
    this.cookie = undefined;
  }
  async call(method, p, body) {
    const res = await fetch(this.base + p, {
      method,
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    for (const h of res.headers.getSetCookie()) if (h.startsWith('bodhiapp_session_id=')) this.cookie = h.split(';')[0];
    return { status: res.status, body: await res.json().catch(() => ({})) };
  }
  async login(username, password) {
    const init = await this.call('POST', '/bodhi/v1/auth/initiate', {});
    const redirect = await loginThroughForm({ authorizationUrl: init.body.location, username, password });
    const cb = await this.call('POST', '/bodhi/v1/auth/callback', Object.fromEntries(redirect.searchParams));
    if (cb.status !== 200) throw new Error(`login failed: ${JSON.stringify(cb.body)}`);
  }
}

async function soak(backend) {
  const db = await createTestSessionDb(backend);
  const [idpPort, port] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${idpPort}`;
  const base = `http://127.0.0.1:${port}`;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-soak-'));
  const idp = start('apps/dev-auth-server/dist/main.js', {
    ...process.env,
    DEV_AUTH_PORT: String(idpPort),
    DEV_AUTH_HOST: '127.0.0.1',
    DEV_AUTH_ISSUER: issuer,
    DEV_AUTH_CLIENT_SECRET: 'soak-client-secret',
    DEV_AUTH_REDIRECT_URIS: `${base}/ui/auth/callback`,
    // Short tokens: the soak exercises refreshes too.
    DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: '20',
  });
  const server = start('apps/bodhi-server/dist/main.js', {
    ...process.env,
    BODHI_HOME: home,
    BODHI_HOST: '127.0.0.1',
    BODHI_PORT: String(port),
    BODHI_LOG_LEVEL: 'warn',
    BODHI_AUTH_URL: issuer,
    BODHI_AUTH_CLIENT_ID: 'bodhi-server',
    BODHI_AUTH_CLIENT_SECRET: 'soak-client-secret',
    BODHI_SESSION_DB_URL: db.url,
    BODHI_SESSION_DB_TABLE: db.table,
    BODHI_SESSION_DB_SCHEMA: db.schema,
    BODHI_SESSION_SECRET: TEST_SECRET,
  });
  try {
    await waitFor(`${issuer}/.well-known/openid-configuration`, idp);
    await waitFor(`${base}/bodhi/v1/ping`, server);
    log(`${backend}: logging in ${CLIENTS} clients`);
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = new Client(base);
      await c.login(i % 2 ? 'admin@bodhi.test' : 'user@bodhi.test', i % 2 ? 'admin-pass' : 'user-pass');
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
          const res = await c.call('GET', '/bodhi/v1/user').catch(() => ({ status: 0, body: {} }));
          latencies.push(performance.now() - s);
          requests++;
          if (res.status !== 200 || res.body.auth_status !== 'logged_in') errors++;
        }
      }),
    );
    clearTimeout(warmTimer);
    const rssEnd = rssMb(server.pid);
    const stillIn = await Promise.all(clients.map((c) => c.call('GET', '/bodhi/v1/user')));
    const lost = stillIn.filter((r) => r.body.auth_status !== 'logged_in').length;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      backend,
      requests,
      errors,
      lost,
      rps: requests / SECONDS,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      rssWarm,
      rssEnd,
      growth: rssWarm ? rssEnd / rssWarm - 1 : NaN,
    };
  } finally {
    server.kill('SIGTERM');
    idp.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await db.drop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const results = [];
for (const backend of args.backends.split(',')) {
  log(`${backend}: ${CLIENTS} clients for ${SECONDS} s`);
  results.push(await soak(backend));
}
const ok = (r) => r.errors === 0 && r.lost === 0 && r.growth <= 0.2;
console.log(`\nSoak: ${CLIENTS} logged-in clients, ${SECONDS} s per backend, ${os.cpus().length} cores\n`);
console.log('| backend | requests | req/s | p50 ms | p99 ms | errors | lost sessions | RSS warm MB | RSS end MB | growth | result |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of results) {
  console.log(
    `| ${r.backend} | ${r.requests} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.lost} | ` +
      `${r.rssWarm.toFixed(1)} | ${r.rssEnd.toFixed(1)} | ${(r.growth * 100).toFixed(1)}% | ${ok(r) ? 'pass' : 'FAIL'} |`,
  );
}
process.exitCode = results.every(ok) ? 0 : 1;
