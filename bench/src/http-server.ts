/**
 * The server of the HTTP benchmark, in a process of its own (autocannon runs in the bench
 * process): the real app from the built libraries, configured by the environment like
 * apps/bodhi-server. BENCH_SESSION_STORE picks what the session middleware uses:
 *   ours        the configured store (the app as shipped);
 *   memory      express-session's MemoryStore (the upper bound).
 * In every case the configured store still opens, migrates and serves the rest of the app.
 */
import { startBodhiServer } from '@bodhi/server-app';
import session from 'express-session';

const server = await startBodhiServer({
  env: process.env,
  logger: ['fatal', 'error', 'warn'],
  sessionStore:
    process.env.BENCH_SESSION_STORE === 'memory' ? new session.MemoryStore() : undefined,
});
// SIGTERM closes the app (shutdown hooks): pruner stopped, DataSource closed.
process.stdout.write(`bench-server ready at ${server.url}\n`);
