// What the cluster e2e needs beyond a stack: the advisory locks its servers hold (read apart
// from those of specs sharing the test PostgreSQL), requests timed against a hang bound,
// instances booted together on a fresh schema, and a client that keeps using its session
// while instances restart.
import { BODHI_HOME, BODHI_PORT, BODHI_SESSION_DB_SCHEMA, sessionKey } from '@bodhi/services';
import {
  advisoryLockRowsQuery,
  type AdvisoryLockKey,
  migrationLockKey,
  pruneLockKey,
  sessionLockKey,
} from '@bodhi/services/testing';
import { BodhiClient } from './bodhi-client.js';
import { ServerProcess } from './server-process.js';
import type { TestSessionDb } from './session-db.js';
import type { Stack } from './stack.js';
import { until } from './wait.js';
import { tempHome } from './workspace.js';

/** What a suite's servers lock by: the schemas they served and the sessions they served. */
export interface LockOwners {
  schemas: string[];
  /** Session ids (the cookie's); the store locks a session by its row key, their hash. */
  sessionIds: string[];
}

/**
 * How many advisory locks are held in `db`'s database under keys the session store of
 * `owners` takes: the migration and the prune lock of each schema's table, and the lock of
 * each session (by its row key, as SessionService locks it). The keys and the pg_locks query
 * are the store's own, so locks of specs running beside this one on the same PostgreSQL are
 * not counted, and a renamed key cannot make the count silently zero.
 */
export async function heldAdvisoryLocks(db: TestSessionDb, owners: LockOwners): Promise<number> {
  const keys: AdvisoryLockKey[] = [
    ...owners.schemas.flatMap((schema) => [
      migrationLockKey(schema, db.table),
      pruneLockKey(schema, db.table),
    ]),
    ...owners.sessionIds.map((sid) => sessionLockKey(sessionKey(sid))),
  ];
  let held = 0;
  for (const key of keys) {
    const { sql, params } = advisoryLockRowsQuery(key);
    held += (await db.query(sql, params)).length;
  }
  return held;
}

/** How a request ended: its answer, or why there was none (an error, or no answer in time). */
export interface TimedOutcome<T> {
  ms: number;
  answer?: T;
  failure?: string;
}

/**
 * Runs `request` and measures it, giving up on it after `boundMs`: a hang guard, so a
 * request stuck behind a lock fails the test at the bound rather than at jest's timeout.
 */
export async function timed<T>(
  request: () => Promise<T>,
  boundMs: number,
): Promise<TimedOutcome<T>> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<TimedOutcome<T>>((resolve) => {
    timer = setTimeout(
      () => resolve({ ms: elapsed(), failure: `no answer in ${boundMs} ms` }),
      boundMs,
    );
  });
  const answered = request().then(
    (answer) => ({ ms: elapsed(), answer }),
    (e: Error) => ({ ms: elapsed(), failure: e.message }),
  );
  try {
    return await Promise.race([answered, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Servers of a stack's settings booted together on a schema of their own. */
export interface BootedTogether {
  schema: string;
  servers: ServerProcess[];
  /** Stops them, drops their schema and removes their homes. */
  stop(): Promise<void>;
}

/**
 * Starts `count` servers at the same moment with the settings of the stack's first server
 * (its database URL, pooler and provider), each in a home of its own, on a schema `schema`
 * that does not exist yet: they race to create and migrate it. Resolves once every one
 * answers, or rejects with the output of one that exited or never answered.
 */
export async function bootTogether(
  stack: Stack,
  schema: string,
  count: number,
): Promise<BootedTogether> {
  const homes = Array.from({ length: count }, () => tempHome('bodhi-e2e-boot-'));
  const servers = homes.map(
    (home, i) =>
      new ServerProcess(
        {
          ...stack.servers[0].env,
          [BODHI_PORT]: '0',
          [BODHI_HOME]: home.dir,
          [BODHI_SESSION_DB_SCHEMA]: schema,
        },
        { name: `bodhi-server-boot-${i}` },
      ),
  );
  const stop = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await stack.db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    for (const home of homes) home.remove();
  };
  const booted = await Promise.allSettled(servers.map((s) => s.up()));
  const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { schema, servers, stop };
}

/** One request of SessionTraffic, and where and when it went. */
export interface TrafficOutcome {
  url: string;
  /** What the test was doing meanwhile (SessionTraffic.phase). */
  phase: string;
  ms: number;
  status?: number;
  authStatus?: unknown;
  /** The error answer's code (`auth_provider_unavailable`), when it was one. */
  errorCode?: unknown;
  failure?: string;
}

/**
 * One client using its session without pause: GET /user, one request at a time, turn
 * about over the servers in service. A server is taken out of service before it stops (a
 * stopped one refuses connections at once, which says nothing about the cluster), so the
 * traffic shows what a user behind a load balancer sees during a rolling restart.
 */
export class SessionTraffic {
  /** The client making the requests (its cookie follows what the servers set). */
  readonly client: BodhiClient;
  readonly outcomes: TrafficOutcome[] = [];
  phase = 'first';
  private readonly inService: Set<string>;
  private inFlight: Promise<void> = Promise.resolve();
  private started = 0;
  private running = true;
  private readonly loop: Promise<void>;

  /** Starts the traffic with `client`'s session (its cookie), over `urls`. */
  constructor(
    client: BodhiClient,
    urls: string[],
    private readonly boundMs: number,
  ) {
    this.client = client.on(urls[0]);
    this.inService = new Set(urls);
    this.loop = this.run();
  }

  /** Takes `url` out of service; resolves once no request to it is in flight. */
  async drain(url: string): Promise<void> {
    this.inService.delete(url);
    await this.inFlight;
  }

  restore(url: string): void {
    this.inService.add(url);
  }

  /**
   * Resolves once `count` requests started after this call have been answered (or failed):
   * requests made in the current phase.
   */
  served(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.started + count;
    return until(() => this.outcomes.length >= target, timeoutMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    for (let turn = 0; this.running; turn++) {
      const urls = [...this.inService];
      if (urls.length === 0) throw new Error('no server in service');
      this.inFlight = this.request(urls[turn % urls.length]);
      await this.inFlight;
    }
  }

  private async request(url: string): Promise<void> {
    const phase = this.phase;
    this.started++;
    this.client.baseUrl = url;
    const { ms, answer, failure } = await timed(() => this.client.user(), this.boundMs);
    this.outcomes.push({
      url,
      phase,
      ms,
      status: answer?.status,
      authStatus: answer?.body.auth_status,
      errorCode: (answer?.body.error as { code?: unknown } | undefined)?.code,
      failure,
    });
  }
}
