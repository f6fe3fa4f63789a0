// Why better-sqlite3: the same session workload on the two Node SQLite drivers, measured.
// TypeORM 1.x removed its `sqlite3` driver, so `sqlite3` is installed on demand into
// bench/.deps (it is not a dependency of the project) and driven directly.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const depsDir = path.join(here, '.deps');
const N = Number(process.env.BENCH_OPS ?? 5000);
const REPS = Number(process.env.BENCH_REPS ?? 5);

function loadSqlite3() {
  const req = createRequire(path.join(depsDir, 'package.json'));
  try {
    return req('sqlite3');
  } catch {
    console.error('[bench] installing sqlite3 into bench/.deps (native build, a minute or two)…');
    fs.mkdirSync(depsDir, { recursive: true });
    fs.writeFileSync(
      path.join(depsDir, 'package.json'),
      JSON.stringify({ private: true, allowScripts: { sqlite3: true } }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', 'sqlite3@6'], { cwd: depsDir, stdio: 'inherit' });
    return req('sqlite3');
  }
}

const Better = createRequire(import.meta.url)('better-sqlite3');
const sqlite3 = loadSqlite3();

const DDL =
  'CREATE TABLE s (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL, user_id TEXT);' +
  'CREATE INDEX s_exp ON s (expires_at); CREATE INDEX s_user ON s (user_id)';
const UPSERT =
  'INSERT INTO s (id, data, expires_at, user_id) VALUES (?, ?, ?, ?) ' +
  'ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, user_id = excluded.user_id';
const GET = 'SELECT data FROM s WHERE id = ? AND expires_at > ?';
// ~1.7 KB: two tokens, a user id and the cookie, as a logged-in BodhiApp session.
const DATA = JSON.stringify({
  cookie: { originalMaxAge: 10_800_000, expires: new Date().toISOString(), httpOnly: true, path: '/', sameSite: 'strict' },
  user_id: 'user-0001',
  access_token: randomBytes(560).toString('base64url'),
  refresh_token: randomBytes(480).toString('base64url'),
});
const ids = Array.from({ length: N }, (_, i) => `sid-${i}-${randomBytes(8).toString('hex')}`);

function tempDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-bench-'));
  return { file: path.join(dir, 's.sqlite'), dir };
}

async function betterRun(op) {
  const { file, dir } = tempDb();
  const db = new Better(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(DDL);
  const up = db.prepare(UPSERT);
  const get = db.prepare(GET);
  const exp = Date.now() + 3_600_000;
  if (op === 'get') for (const id of ids) up.run(id, DATA, exp, 'u');
  const t0 = process.hrtime.bigint();
  if (op === 'set') for (const id of ids) up.run(id, DATA, exp, 'u');
  else for (const id of ids) get.get(id, Date.now());
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function sqlite3Run(op) {
  const { file, dir } = tempDb();
  const db = new sqlite3.Database(file);
  const p = (fn, ...args) => new Promise((res, rej) => fn.call(db, ...args, (e, r) => (e ? rej(e) : res(r))));
  await p(db.exec, 'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; ' + DDL);
  const up = db.prepare(UPSERT);
  const get = db.prepare(GET);
  const runStmt = (stmt, method, args) => new Promise((res, rej) => stmt[method](...args, (e, r) => (e ? rej(e) : res(r))));
  const exp = Date.now() + 3_600_000;
  if (op === 'get') for (const id of ids) await runStmt(up, 'run', [id, DATA, exp, 'u']);
  const t0 = process.hrtime.bigint();
  if (op === 'set') for (const id of ids) await runStmt(up, 'run', [id, DATA, exp, 'u']);
  else for (const id of ids) await runStmt(get, 'get', [id, Date.now()]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await new Promise((res) => up.finalize(() => get.finalize(res)));
  await p(db.close);
  fs.rmSync(dir, { recursive: true, force: true });
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const op of ['set', 'get']) {
  const result = {};
  for (const [name, run] of [
    ['better-sqlite3', betterRun],
    ['sqlite3', sqlite3Run],
  ]) {
    await run(op); // warm-up, excluded
    const times = [];
    for (let r = 0; r < REPS; r++) times.push(await run(op));
    result[name] = (N / median(times)) * 1000;
  }
  rows.push([op, result['better-sqlite3'], result['sqlite3'], result['better-sqlite3'] / result['sqlite3']]);
}

console.log(`\nSQLite drivers, ${N} sequential ops on a file DB (WAL, synchronous=NORMAL), median of ${REPS}:\n`);
console.log('| op | better-sqlite3 ops/s | sqlite3 ops/s | ratio |');
console.log('|---|---:|---:|---:|');
for (const [op, b, s, ratio] of rows) {
  console.log(`| ${op === 'set' ? 'set (upsert 1.7 KB)' : 'get (hit)'} | ${Math.round(b)} | ${Math.round(s)} | ${ratio.toFixed(1)}× |`);
}
