import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { metricValues, TEST_PG_URL, TEST_SECRET, until } from '@bodhi/testing';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { SessionCache } from '../cache/session-cache.js';
import { SessionInvalidationListener } from './session-invalidation.listener.js';

/** What PostgreSQL takes in one notification at most is 8000 bytes: a few fill a queue page. */
const FILL_PAYLOAD = 'x'.repeat(7000);

/**
 * PostgreSQL's notification queue is shared by every channel of the cluster and emptied
 * only as far as its slowest listening connection has read: one that stops reading (an
 * instance frozen, here a connection idle in a transaction) makes it fill, and at full every
 * notifying commit (every session write, through the triggers) fails. The listener reads
 * its usage with each health probe: a gauge, and one warning when it passes the threshold.
 */
describe('the session listener watches PostgreSQL notification queue', () => {
  let pool: pg.Pool;
  let clients: pg.Client[];
  let listener: SessionInvalidationListener;
  let metrics: BodhiMetrics;
  let logger: Logger;
  let warn: jest.SpiedFunction<Logger['warn']>;
  let log: jest.SpiedFunction<Logger['log']>;
  const fillChannel = `bodhi_test_fill_${randomBytes(4).toString('hex')}`;

  const connect = async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    clients.push(client);
    await client.connect();
    return client;
  };
  const usage = async () =>
    (await metricValues(metrics.sessionCacheNotifyQueueUsage))[''] ?? Number.NaN;

  beforeEach(async () => {
    clients = [];
    pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
    metrics = new BodhiMetrics();
    logger = new Logger('SessionCache');
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
    listener = new SessionInvalidationListener({
      listenUrl: TEST_PG_URL,
      channel: `bodhi_session_test_${randomBytes(4).toString('hex')}`,
      cache: new SessionCache({ metrics }),
      pool,
      secrets: [TEST_SECRET],
      metrics,
      // Some 50 of the queue's pages (8 kB each, of about a million): what the fill below
      // passes, and what the rest of the parallel test run, which reads promptly, does not.
      notifyQueueWarnAt: 5e-5,
      healthIntervalMs: 20,
      logger,
    });
    await listener.start();
  });
  afterEach(async () => {
    await listener.stop();
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await pool.end();
  });

  it('reports the queue filling behind a connection that stopped reading, warns once, and sees it empty', async () => {
    const stuck = await connect();
    await stuck.query(`LISTEN ${fillChannel}`);
    await stuck.query('BEGIN');
    const sender = await connect();
    for (let i = 0; i < 200; i++) {
      await sender.query('SELECT pg_notify($1, $2)', [fillChannel, FILL_PAYLOAD]);
    }

    await until(async () => (await usage()) >= 5e-5, 10_000);
    const warnings = () => warn.mock.calls.filter(([m]) => /notification queue/.test(String(m)));
    expect(warnings()).toHaveLength(1);
    expect(String(warnings()[0][0])).toMatch(/stopped reading.*pg_terminate_backend/);
    // Further probes while it stays full do not warn again.
    const probed = await usage();
    await until(async () => {
      await sender.query('SELECT pg_notify($1, $2)', [fillChannel, FILL_PAYLOAD]);
      return (await usage()) > probed;
    }, 10_000);
    expect(warnings()).toHaveLength(1);

    // The connection reads again (its transaction ends): the queue empties.
    await stuck.query('COMMIT');
    await until(async () => (await usage()) < 5e-5, 10_000);
    expect(log.mock.calls.map(([m]) => String(m))).toContainEqual(
      expect.stringMatching(/notification queue is emptying/),
    );
  });
});
