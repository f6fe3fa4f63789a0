/**
 * The server of the HTTP benchmark, in a process of its own (autocannon runs in the bench
 * process): the real app from the built libraries, configured by the environment like
 * apps/bodhi-server (BODHI_LOG_LEVEL and BODHI_LOG_FORMAT included). BENCH_SESSION_STORE
 * picks what the session middleware uses:
 *   ours        the configured store (the app as shipped);
 *   memory      express-session's MemoryStore (the upper bound).
 * In every case the configured store still opens, migrates and serves the rest of the app.
 *
 * BENCH_STDOUT_FILE: this process's stdout (fd 1, where the logger writes) becomes that file,
 * as a container runtime's log file would be. The bench's process manager reads stdout
 * through a pipe into memory; per-request log lines through it would load the load
 * generator's process and grow without bound.
 */
import * as fs from 'node:fs';

/**
 * Node has no dup2: fd 1 is closed and the file opened at once, which POSIX gives the lowest
 * free descriptor, 1 (0 and 2 stay open). Checked, not assumed. Done before the app is
 * imported, so nothing holds the old stdout.
 */
function stdoutToFile(file: string): void {
  fs.closeSync(1);
  const fd = fs.openSync(file, 'a');
  if (fd !== 1) throw new Error(`BENCH_STDOUT_FILE: opened as fd ${fd}, not 1`);
}

if (process.env.BENCH_STDOUT_FILE) stdoutToFile(process.env.BENCH_STDOUT_FILE);
const { announceListening, startBodhiServer } = await import('@bodhi/server-app');
const { default: session } = await import('express-session');

const server = await startBodhiServer({
  env: process.env,
  sessionStore:
    process.env.BENCH_SESSION_STORE === 'memory' ? new session.MemoryStore() : undefined,
});
// SIGTERM closes the app (shutdown hooks): pruner stopped, DataSource closed.
process.stdout.write(`bench-server ready at ${server.url}\n`);
announceListening(server);
