import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { Pool } from 'pg';
import { redactUrlPasswords } from '../util/redact.util.js';
import { describeSessionDb } from './session-db-url.util.js';
import type { SessionCache } from './session-cache.js';
import { invalidationPayload, parseInvalidation } from './session-invalidation.js';
import { quoteIdent } from './session-sql.js';

/** How often the listener proves it still hears the table's channel. */
export const LISTENER_HEALTH_INTERVAL_MS = 1000;
/**
 * How long a probe may take to come back before the cache stops serving. With the interval,
 * the longest a silently dead listener can leave entries served: 3 s.
 */
export const LISTENER_PROBE_TIMEOUT_MS = 2000;
/** Reconnection waits, doubling from the first to the last. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

export interface SessionInvalidationListenerOptions {
  /** A direct PostgreSQL URL (LISTEN holds a connection of its own). */
  listenUrl: string;
  /** The table's channel (`invalidationChannel`). */
  channel: string;
  cache: SessionCache;
  /**
   * Where probes are sent from: the serving pool, the path every writer's notification
   * takes. A probe that arrives proves the whole path (writer → database → listener),
   * which a listener behind a transaction pooler does not have.
   */
  pool: Pool;
  healthIntervalMs?: number;
  probeTimeoutMs?: number;
  logger?: Logger;
}

type State = 'stopped' | 'connecting' | 'proving' | 'serving' | 'suspended';

/**
 * The one connection of an instance that LISTENs on its session table's channel, and what
 * it does with what it hears: each notification drops the entries it names from the cache.
 * The cache serves only while this is known to work: from a probe (a notification it sent
 * itself, over the serving pool) that came back after LISTEN, until the connection ends or
 * a periodic probe does not come back in time; it is then suspended (flushed, bypassed),
 * the connection replaced, and proven again. Emits `serving` and `suspended` (for tests and
 * logs) as the cache starts and stops serving.
 */
export class SessionInvalidationListener extends EventEmitter {
  private client?: pg.Client;
  private state: State = 'stopped';
  private readonly instance = randomUUID();
  private probes = 0;
  private readonly awaited = new Map<string, () => void>();
  private timer?: NodeJS.Timeout;
  private reconnectDelay = RECONNECT_MIN_MS;
  private readonly healthIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly logger: Logger;
  private readonly where: string;

  constructor(private readonly options: SessionInvalidationListenerOptions) {
    super();
    this.healthIntervalMs = options.healthIntervalMs ?? LISTENER_HEALTH_INTERVAL_MS;
    this.probeTimeoutMs = options.probeTimeoutMs ?? LISTENER_PROBE_TIMEOUT_MS;
    this.logger = options.logger ?? new Logger('SessionCache');
    this.where = describeSessionDb({ kind: 'postgres', url: options.listenUrl });
    options.cache.setBarrier(() => this.barrier());
  }

  /**
   * A probe's round trip, resolved when it comes back or at the probe timeout (a listener
   * that does not answer is the health check's to suspend): what was committed before it
   * has then reached this listener.
   */
  private async barrier(): Promise<void> {
    await this.roundTrip();
  }

  get serving(): boolean {
    return this.state === 'serving';
  }

  /**
   * Connects and proves the listener. Throws when the first connection cannot be made (a
   * wrong URL or password is a configuration error); a probe that does not come back is
   * not (a pooler in the way, a slow start): the cache stays bypassed, with a warning, and
   * the listener keeps trying.
   */
  async start(): Promise<void> {
    this.state = 'connecting';
    await this.connect();
    if (!(await this.prove())) {
      this.logger.warn(
        `Session cache bypassed: a change notified over the session database did not reach ` +
          `the listener on ${this.where} within ${this.probeTimeoutMs} ms (a transaction ` +
          'pooler in between?); it serves once one does',
      );
      this.suspend('health_check');
      return;
    }
    this.logger.log(`Session cache on: listening for session changes on ${this.where}`);
  }

  /** Stops listening; the cache no longer serves. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.options.cache.suspend('shutdown');
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Opens the listening connection (the previous one, if any, is already gone). */
  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.listenUrl,
      application_name: 'bodhi-session-listener',
      connectionTimeoutMillis: 10_000,
    });
    client.on('notification', (msg) => this.heard(client, msg.payload ?? ''));
    // Either ends the connection; the first one suspends the cache and reconnects.
    client.on('error', (e) => this.lost(client, e.message));
    client.on('end', () => this.lost(client, 'connection ended'));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.options.channel)}`);
    } catch (e) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw new Error(
        `session cache cannot listen on ${this.where}: ${redactUrlPasswords(e instanceof Error ? e.message : String(e))}`,
      );
    }
    this.client = client;
  }

  private heard(client: pg.Client, payload: string): void {
    if (client !== this.client) return;
    const message = parseInvalidation(payload);
    if (message.kind === 'probe') {
      this.awaited.get(message.token)?.();
      return;
    }
    this.options.cache.invalidate(message, 'notify');
  }

  /**
   * Sends a probe over the serving pool and waits for it here; on its return the cache
   * serves (again) and the next health check is scheduled. False when it did not return.
   */
  private async prove(): Promise<boolean> {
    this.state = this.state === 'serving' ? 'serving' : 'proving';
    const ok = await this.roundTrip();
    // The connection may have ended, or stop() run, while the probe was out.
    if (this.is('stopped', 'suspended') || !this.client) return false;
    if (!ok) return false;
    if (this.state !== 'serving') {
      this.state = 'serving';
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.options.cache.resume();
      this.emit('serving');
    }
    this.schedule(() => this.check(), this.healthIntervalMs);
    return true;
  }

  /**
   * Sends a probe over the serving pool and waits for it here: true when it came back,
   * false at the timeout, or as soon as it could not be sent.
   */
  private async roundTrip(): Promise<boolean> {
    const token = `${this.instance}:${++this.probes}`;
    let timer: NodeJS.Timeout | undefined;
    // True when it comes back; false at the timeout, or as soon as it cannot be sent.
    const arrived = new Promise<boolean>((resolve) => {
      this.awaited.set(token, () => resolve(true));
      timer = setTimeout(() => resolve(false), this.probeTimeoutMs);
      this.options.pool
        .query('SELECT pg_notify($1, $2)', [
          this.options.channel,
          invalidationPayload({ kind: 'probe', token }),
        ])
        .catch(() => resolve(false));
    });
    const ok = await arrived;
    clearTimeout(timer);
    this.awaited.delete(token);
    return ok;
  }

  /** A periodic health check: a probe that does not come back suspends and reconnects. */
  private async check(): Promise<void> {
    if (this.state !== 'serving') return;
    if (await this.prove()) return;
    if (this.state !== 'serving') return;
    this.logger.warn(
      `Session cache suspended: a probe did not come back over ${this.where} within ${this.probeTimeoutMs} ms`,
    );
    this.suspend('health_check');
  }

  private lost(client: pg.Client, reason: string): void {
    if (client !== this.client || this.state === 'stopped') return;
    this.logger.warn(`Session cache suspended: its listener on ${this.where} lost: ${reason}`);
    this.suspend('listener_lost');
  }

  /** Flushes and bypasses the cache, drops the connection, and reconnects (with backoff). */
  private suspend(reason: 'listener_lost' | 'health_check'): void {
    const wasServing = this.state === 'serving';
    this.state = 'suspended';
    clearTimeout(this.timer);
    this.options.cache.suspend(reason);
    if (wasServing) this.emit('suspended', reason);
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
    this.schedule(() => this.reconnect(), this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'suspended') return;
    this.state = 'connecting';
    try {
      await this.connect();
    } catch (e) {
      if (this.state !== 'connecting') return;
      this.logger.debug(e instanceof Error ? e.message : String(e));
      this.suspend('listener_lost');
      return;
    }
    if (this.state !== 'connecting') {
      await this.dropStray();
      return;
    }
    if (await this.prove()) {
      this.logger.log(`Session cache on again: listening on ${this.where}`);
    } else if (this.is('proving')) {
      this.suspend('health_check');
    }
  }

  /** A connection made while stop() ran: close it. */
  private async dropStray(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The state now (read after an await, which TypeScript's narrowing does not see). */
  private is(...states: State[]): boolean {
    return states.includes(this.state);
  }

  private schedule(task: () => Promise<void>, ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void task(), ms);
    this.timer.unref();
  }
}
