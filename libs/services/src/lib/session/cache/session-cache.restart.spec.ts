import type { SessionData } from 'express-session';
import { once } from 'node:events';
import {
  createTestSessionDb,
  openCachedTestStore,
  PrivatePostgres,
  sessionFixture,
  TcpProxy,
  type CachedTestStore,
  type TestSessionDb,
} from '@bodhi/testing';

/**
 * PostgreSQL restarted under two instances (a private server the spec stops and starts):
 * every listener loses its connection, so B's cache is flushed and bypassed; a change A
 * writes after the restart, while B's listener is not back (its reconnection held by a
 * proxy), is what B reads, then and once B's cache serves again.
 */
describe('session cache on postgres: the database restarted', () => {
  let pg: PrivatePostgres;
  let db: TestSessionDb;
  let proxy: TcpProxy;
  let a: CachedTestStore;
  let b: CachedTestStore;

  beforeAll(async () => {
    pg = await PrivatePostgres.start();
    db = await createTestSessionDb('postgres', 'sessions', pg.url);
    proxy = await TcpProxy.start(pg.url);
    a = await openCachedTestStore(db);
    b = await openCachedTestStore(db, { cacheListenUrl: proxy.url });
  }, 120_000);
  afterAll(async () => {
    await pg?.resume().catch(() => undefined);
    await a?.close();
    await b?.close();
    await proxy?.close();
    await db?.drop();
    await pg?.stop();
  }, 120_000);

  it('B never serves the row from before the restart once A changed it, and caches again after', async () => {
    const sid = `restart-${process.pid}`;
    await a.store.saveSession(sid, sessionFixture(3_600_000, { user_id: 'u-restart', step: 1 }));
    expect(await b.read(sid)).toMatchObject({ lookup: 'miss' });
    expect(await b.read(sid)).toMatchObject({ session: { step: 1 }, lookup: 'hit' });

    const listener = b.runtime?.listener;
    if (!listener) throw new Error('the session cache is off');
    const suspended = once(listener, 'suspended');
    proxy.hold();
    await pg.pause();
    await suspended;
    expect(b.runtime?.cache.size).toBe(0);
    await pg.resume();

    // After the restart, before B listens again: A's change is not heard by B, and read.
    const { notified } = await b.counts();
    const loaded = (await a.store.findSession(sid)) as SessionData & { step: number };
    loaded.step = 2;
    expect(await a.store.updateSession(sid, loaded)).toBe(true);
    expect(await b.read(sid)).toMatchObject({ session: { step: 2 }, lookup: 'bypass' });
    expect((await b.counts()).notified).toBe(notified);

    const serving = once(listener, 'serving');
    proxy.release();
    await serving;
    expect(await b.read(sid)).toMatchObject({ session: { step: 2 }, lookup: 'miss' });
    expect(await b.read(sid)).toMatchObject({ session: { step: 2 }, lookup: 'hit' });
  }, 120_000);
});
