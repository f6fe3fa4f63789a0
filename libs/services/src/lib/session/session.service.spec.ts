import { jest } from '@jest/globals';
import type { SessionData } from 'express-session';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  testSessionOptions,
  TestSessionDb,
} from '@bodhi/testing';
import { SessionLock } from './locks/session-lock.js';
import { resolveSessionOptions } from './config/session.options.js';
import { DefaultSessionService } from './session.service.js';

type WithTicket = SessionData & { ticket?: string };

describe.each(SESSION_BACKENDS)('DefaultSessionService.updateStoredSession on %s', (kind) => {
  let db: TestSessionDb;
  const sources: DataSource[] = [];
  /** One service per DataSource: two server instances on one database. */
  const services: DefaultSessionService[] = [];

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    for (let i = 0; i < 2; i++) {
      const opened = await openTestStore(db);
      sources.push(opened.dataSource);
      services.push(
        new DefaultSessionService(
          opened.store,
          resolveSessionOptions(testSessionOptions(db)),
          new SessionLock({ dataSource: opened.dataSource, kind }),
          opened.revocations,
        ),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(sources.map((ds) => ds.destroy()));
    await db?.drop();
  });

  const store = () => services[0].getSessionStore();
  /** Takes the ticket out of the stored session: what one caller may have, once. */
  const takeTicket = (stored: WithTicket): string | undefined => {
    const ticket = stored.ticket;
    delete stored.ticket;
    return ticket;
  };

  it('edits the stored row, read under the lock, and writes the edit back', async () => {
    await store().saveSession('s-edit', sessionFixture(60_000, { ticket: 't-1', keep: 'k' }));
    expect(await services[0].updateStoredSession('s-edit', takeTicket)).toBe('t-1');
    expect(await store().findSession('s-edit')).toMatchObject({ keep: 'k' });
    expect(await store().findSession('s-edit')).not.toHaveProperty('ticket');
  });

  it('writes nothing when the change throws, and creates no row for a missing session', async () => {
    await store().saveSession('s-keep', sessionFixture(60_000, { ticket: 't-2' }));
    const refuse = (stored: WithTicket) => {
      delete stored.ticket;
      throw new Error('refused');
    };
    await expect(services[0].updateStoredSession('s-keep', refuse)).rejects.toThrow('refused');
    expect(await store().findSession('s-keep')).toMatchObject({ ticket: 't-2' });

    expect(await services[0].updateStoredSession('s-none', takeTicket)).toBeNull();
    expect(await store().findSession('s-none')).toBeNull();
  });

  it('a row deleted between the read and the write stays deleted, and the result says so', async () => {
    await store().saveSession(
      's-gone',
      sessionFixture(60_000, { ticket: 't-4', user_id: 'u-gone' }),
    );
    // A role change removes the user's sessions (no session lock) right after the read.
    const find = store().findSession.bind(store());
    const read = jest.spyOn(store(), 'findSession').mockImplementationOnce(async (sid) => {
      const found = await find(sid);
      expect(await store().destroyForUser('u-gone')).toBe(1);
      return found;
    });
    try {
      expect(await services[0].updateStoredSession('s-gone', takeTicket)).toBeNull();
    } finally {
      read.mockRestore();
    }
    expect(await store().findSession('s-gone')).toBeNull();
    expect(await store().sessionKeysForUser('u-gone')).toEqual([]);
  });

  it('of concurrent takes, on every instance, exactly one gets what was stored', async () => {
    await store().saveSession('s-race', sessionFixture(60_000, { ticket: 't-3' }));
    // On SQLite one process is the whole deployment: the second instance stands for nothing.
    const instances = kind === 'postgres' ? services : services.slice(0, 1);
    const taken = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        instances[i % instances.length].updateStoredSession('s-race', takeTicket),
      ),
    );
    expect(taken.filter((t) => t !== undefined)).toEqual(['t-3']);
  });
});
