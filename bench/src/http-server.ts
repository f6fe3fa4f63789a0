/**
 * The server of the HTTP benchmark, in a process of its own (autocannon runs in the bench
 * process): the real app from the built libraries, configured by the environment like
 * apps/bodhi-server. BENCH_SESSION_STORE picks what the session middleware uses:
 *   ours        the configured store (the app as shipped);
 *   memory      express-session's MemoryStore (the upper bound);
 *   lazy-touch  what-if: our store behind a wrapper that skips `touch` while the stored
 *               expiry is less than BENCH_TOUCH_AFTER_MS behind the new one — what a
 *               `touchAfter` option in the store would do. Not a shipped configuration.
 * In every case the configured store still opens, migrates and serves the rest of the app.
 */
import {
  createSessionDataSource,
  createSessionStore,
  resolveSessionOptions,
  SessionStoreBackend,
} from '@bodhi/services';
import { startBodhiServer } from '@bodhi/server-app';
import type { Request } from 'express';
import session, { SessionData, Store } from 'express-session';

type Cb = (err?: unknown) => void;

const expiresOf = (s: SessionData) => {
  const ms = s.cookie?.expires ? new Date(s.cookie.expires).getTime() : NaN;
  return Number.isFinite(ms) ? ms : Date.now();
};

/** Our store, skipping touches that would move the expiry by less than `afterMs`. */
class LazyTouchStore extends Store {
  /** Expiry last written per session (one process owns these sessions in the bench). */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly inner: SessionStoreBackend,
    private readonly afterMs: number,
  ) {
    super();
  }

  override createSession(req: Request, data: SessionData) {
    return this.inner.createSession(req, data);
  }

  override get(sid: string, cb: (err: unknown, s?: SessionData | null) => void): void {
    this.inner.get(sid, cb);
  }

  override set(sid: string, s: SessionData, cb?: Cb): void {
    this.inner.set(sid, s, (err) => {
      if (!err) this.written.set(sid, expiresOf(s));
      cb?.(err);
    });
  }

  override touch(sid: string, s: SessionData, cb?: Cb): void {
    const expires = expiresOf(s);
    const last = this.written.get(sid);
    if (last !== undefined && expires - last < this.afterMs) return cb?.();
    this.inner.touch(sid, s, (err) => {
      if (!err) this.written.set(sid, expires);
      cb?.(err);
    });
  }

  override destroy(sid: string, cb?: Cb): void {
    this.written.delete(sid);
    this.inner.destroy(sid, cb);
  }
}

async function storeFor(mode: string | undefined): Promise<Store | undefined> {
  if (mode === 'memory') return new session.MemoryStore();
  if (mode !== 'lazy-touch') return undefined;
  const env = process.env;
  const options = resolveSessionOptions({
    url: env.BODHI_SESSION_DB_URL ?? '',
    secret: env.BODHI_SESSION_SECRET ?? '',
    tableName: env.BODHI_SESSION_DB_TABLE,
    schema: env.BODHI_SESSION_DB_SCHEMA,
    pruneIntervalSeconds: 0,
  });
  const dataSource = await createSessionDataSource(options);
  return new LazyTouchStore(
    createSessionStore(dataSource, options),
    Number(env.BENCH_TOUCH_AFTER_MS ?? 60_000),
  );
}

const server = await startBodhiServer({
  env: process.env,
  logger: ['fatal', 'error', 'warn'],
  sessionStore: await storeFor(process.env.BENCH_SESSION_STORE),
});
// SIGTERM closes the app (shutdown hooks): pruner stopped, DataSource closed.
process.stdout.write(`bench-server ready at ${server.url}\n`);
