import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import {
  createTestSessionDb,
  openTestStore,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  TestSessionDb,
  until,
} from '@bodhi/testing';
import type { SessionDataSource } from '../../store/session-data-source.factory.js';
import { sqliteHandle } from './sqlite-handle.js';
import { walCheckpointerOf } from './sqlite-wal-checkpointer.js';
import { sessionKey } from '../../store/session-key.js';

const HOUR = 3_600_000;
const TOKEN = 'eyJ-distinctive-refresh-token-Zq81vX0p-that-no-file-may-keep';

/**
 * What SQLite keeps on disk of the sessions (SQLite only: PostgreSQL's files are the
 * database server's): the database, its WAL and shared-memory files readable by the owner
 * alone, and deleted sessions overwritten rather than left in free pages.
 */
describe('SQLite session files', () => {
  let db: TestSessionDb;
  let file: string;
  let umask: number;
  const opened: SessionDataSource[] = [];
  const open = async (overrides: Parameters<typeof openTestStore>[1] = {}) => {
    const result = await openTestStore(db, overrides);
    opened.push(result.dataSource as SessionDataSource);
    return result;
  };
  const files = () => [file, `${file}-wal`, `${file}-shm`];
  const modes = () => files().map((f) => fs.statSync(f).mode & 0o777);

  /** Copies the WAL back into the database and empties it (retrying while the worker checkpoints). */
  const checkpoint = async (dataSource: SessionDataSource) =>
    until(async () => {
      await walCheckpointerOf(dataSource)?.drain();
      const [r] = sqliteHandle(dataSource).pragma('wal_checkpoint(TRUNCATE)') as {
        busy: number;
      }[];
      return r.busy === 0;
    });

  beforeAll(() => {
    // The usual umask: without the store's own care, SQLite would make its files 644.
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
  });
  beforeEach(async () => {
    db = await createTestSessionDb('sqlite');
    file = db.url.slice('sqlite:'.length);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((ds) => ds.isInitialized && ds.destroy()));
    await db.drop();
  });

  it('makes the database, -wal and -shm files mode 600', async () => {
    const { dataSource, store } = await open();
    await store.saveSession('sid', sessionFixture(HOUR, { user_id: 'u' }));
    await checkpoint(dataSource as SessionDataSource);
    expect(modes()).toEqual([0o600, 0o600, 0o600]);
  });

  it('narrows to 600 a database and -wal an earlier release left at 644', async () => {
    // A database as an earlier release made it, closed (SQLite removes -wal and -shm then),
    // with the files of a process that stopped without closing it.
    const before = await open();
    await before.store.saveSession('old', sessionFixture(HOUR, { user_id: 'u' }));
    await before.dataSource.destroy();
    fs.writeFileSync(`${file}-wal`, '');
    for (const f of [file, `${file}-wal`]) fs.chmodSync(f, 0o644);
    expect([file, `${file}-wal`].map((f) => fs.statSync(f).mode & 0o777)).toEqual([0o644, 0o644]);

    const { dataSource, store } = await open();
    expect(await store.findSession('old')).toMatchObject({ user_id: 'u' });
    await store.saveSession('new', sessionFixture(HOUR, { user_id: 'v' }));
    await checkpoint(dataSource as SessionDataSource);
    expect(modes()).toEqual([0o600, 0o600, 0o600]);
  });

  it('leaves none of what an earlier release deleted in the file it upgrades', async () => {
    // An early release's file (no migrations record) in which most sessions were deleted
    // with secure_delete off: whole pages of them sit on the free list, bytes intact.
    const early = new Database(file);
    early.exec(
      `CREATE TABLE "${db.table}" (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
    );
    const insert = early.prepare(`INSERT INTO "${db.table}" VALUES (?, ?, ?)`);
    const token = (i: number) => `${TOKEN}-${i}-end`;
    for (let i = 0; i < 200; i++) {
      const data = { ...sessionFixture(HOUR), refresh_token: token(i), pad: 'x'.repeat(200) };
      insert.run(`sid-${String(i).padStart(4, '0')}`, JSON.stringify(data), Date.now() + HOUR);
    }
    early.prepare(`DELETE FROM "${db.table}" WHERE id < 'sid-0150'`).run();
    early.close();
    const leftOver = () =>
      files()
        .filter((part) => fs.existsSync(part))
        .flatMap((part) => {
          const bytes = fs.readFileSync(part);
          return Array.from({ length: 150 }, (_, i) => token(i)).filter((t) => bytes.includes(t));
        });
    expect(leftOver().length).toBeGreaterThan(100);

    const { store } = await open();
    expect(leftOver()).toEqual([]);
    expect(await store.findSession('sid-0199')).toMatchObject({ refresh_token: token(199) });
  });

  it("turns secure_delete on for the store's connection", async () => {
    const { dataSource } = await open();
    expect(sqliteHandle(dataSource).pragma('secure_delete', { simple: true })).toBe(1);
  });

  it.each<[string, Parameters<typeof openTestStore>[1]]>([
    ['encrypted', { encryptionKeys: [TEST_ENCRYPTION_KEY] }],
    ['plain', {}],
  ])(
    'leaves no byte of a destroyed %s session in the database, -wal or -shm file',
    async (_what, overrides) => {
      const { dataSource, store } = await open(overrides);
      const ds = dataSource as SessionDataSource;
      await store.saveSession('gone', sessionFixture(HOUR, { user_id: 'u', refresh_token: TOKEN }));
      await store.saveSession('kept', sessionFixture(HOUR, { user_id: 'u' }));
      const [{ data: stored }] = sqliteHandle(ds)
        .prepare(`SELECT data FROM "${db.table}" WHERE id = ?`)
        .all(sessionKey('gone')) as { data: string }[];
      const onDisk = (bytes: string) =>
        files().filter((f) => fs.readFileSync(f).includes(Buffer.from(bytes, 'utf8')));

      // The search finds what is there: the stored row, on disk once checkpointed.
      await checkpoint(ds);
      expect(onDisk(stored)).toEqual([file]);
      if (overrides?.encryptionKeys) expect(onDisk(TOKEN)).toEqual([]);

      expect(await store.destroySession('gone')).toBe(true);
      await checkpoint(ds);
      expect(onDisk(TOKEN)).toEqual([]);
      expect(onDisk(stored)).toEqual([]);
      expect(await store.findSession('kept')).not.toBeNull();
    },
  );
});
