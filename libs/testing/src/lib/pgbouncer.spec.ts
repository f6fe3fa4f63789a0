import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_PG_URL, TEST_PGBOUNCER_URL } from './session-db.js';

// The PgBouncer scripts/test-deps.mjs runs in front of the test PostgreSQL: a pooled stack
// (startStack's pooler: 'pgbouncer') means something only if it really pools by transaction.
describe('the test PgBouncer', () => {
  const clients: pg.Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.end()));
  });
  const connect = async (url: string, config: pg.ClientConfig = {}) => {
    const client = new pg.Client({ connectionString: url, ...config });
    clients.push(client);
    await client.connect();
    return client;
  };
  /** Its admin console, read-only (the harness makes the test user a stats user). */
  const adminConsole = () => {
    const url = new URL(TEST_PGBOUNCER_URL);
    url.pathname = '/pgbouncer';
    return connect(url.href);
  };

  it('pools in transaction mode, with a small pool per database', async () => {
    const admin = await adminConsole();
    const { rows } = await admin.query<{ key: string; value: string }>('SHOW CONFIG');
    const config = Object.fromEntries(rows.map((row) => [row.key, row.value]));
    expect(config.pool_mode).toBe('transaction');
    expect(Number(config.default_pool_size)).toBeLessThanOrEqual(4);
  });

  it('gives a client a server connection of the test PostgreSQL only while its transaction lasts', async () => {
    const name = `pgbouncer-probe-${randomBytes(4).toString('hex')}`;
    const client = await connect(TEST_PGBOUNCER_URL, { application_name: name });
    const admin = await adminConsole();
    /** The server connection PgBouncer has linked to the client ('' for none). */
    const linkOf = async () => {
      const { rows } = await admin.query<{ application_name: string; link: string }>(
        'SHOW CLIENTS',
      );
      const row = rows.find((r) => r.application_name === name);
      if (!row) throw new Error(`PgBouncer lists no client named ${name}`);
      return row.link;
    };

    await client.query('BEGIN');
    const { rows } = await client.query<{ pid: number; db: string }>(
      'SELECT pg_backend_pid() AS pid, current_database() AS db',
    );
    expect(await linkOf()).not.toBe('');
    // That server connection is a backend of the test PostgreSQL, on the same database.
    const direct = await connect(TEST_PG_URL);
    const backend = await direct.query('SELECT datname FROM pg_stat_activity WHERE pid = $1', [
      rows[0].pid,
    ]);
    expect(backend.rows).toEqual([{ datname: rows[0].db }]);
    expect(rows[0].db).toBe(new URL(TEST_PG_URL).pathname.slice(1));

    // Session mode would keep it linked until the client disconnects; transaction mode hands
    // it back to the pool at COMMIT, for any other client: what breaks session-level locks.
    await client.query('COMMIT');
    expect(await linkOf()).toBe('');
  });
});
