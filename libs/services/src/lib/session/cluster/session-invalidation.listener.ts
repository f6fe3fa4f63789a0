import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { Pool } from 'pg';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { redactUrlPasswords } from '../../util/redact.util.js';
import { describeSessionDb } from '../config/session-db-url.util.js';
import type { SessionCache } from '../cache/session-cache.js';
import {
  type Invalidation,
  invalidationPayload,
  listenerApplicationName,
  parseInvalidation,
} from './session-invalidation.js';
import { quoteIdent } from '../sql/session-sql.js';

/** How often the listener proves it still hears the table's channel. */
export const LISTENER_HEALTH_INTERVAL_MS = 1000;
/**
 * How long a probe may take to come back before the cache stops serving. With the interval,
 * the longest a silently dead listener can leave entries served: 3 s.
 */
export const LISTENER_PROBE_TIMEOUT_MS = 2000;
/**
 * Longest an ending waits for the serving instances to acknowledge it (`barrier`): past it
 * an instance that has not answered is slow or partitioned, which its own health check
 * catches (it suspends within LISTENER_HEALTH_INTERVAL_MS + LISTENER_PROBE_TIMEOUT_MS).
 */
export const LISTENER_BARRIER_TIMEOUT_MS = 1000;
/** An instance whose probes have not been heard for this long is no longer waited for. */
const PEER_TTL_MS = 3 * LISTENER_HEALTH_INTERVAL_MS;
/**
 * Share of PostgreSQL's notification queue in use past which the listener warns (PostgreSQL
 * itself warns at half; at full, every session write fails): a listening connection of the
 * database has stopped reading.
 */
export const NOTIFY_QUEUE_WARN_AT = 0.1;
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
  barrierTimeoutMs?: number;
  /**
   * The cluster's session secrets (the first signs): what the instances' probes and answers
   * are signed with, so that another role of the database, which may NOTIFY on any channel,
   * cannot pose as a serving instance (every ending would wait for it) or answer for one.
   */
  secrets: readonly string[];
  /** Where the notification queue's usage is reported (each probe reads it). */
  metrics?: BodhiMetrics;
  /** Share of the notification queue in use past which it warns; default NOTIFY_QUEUE_WARN_AT. */
  notifyQueueWarnAt?: number;
  logger?: Logger;
}

/** Most instances remembered: more than any cluster, fewer than a flood of forged ids. */
const MAX_PEERS = 1000;
const MAC_HEX = 32;

/** Signs and checks the listener's own messages (probes, answers) with the cluster's secrets. */
class ListenerMac {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((s) =>
      createHmac('sha256', s).update('bodhi-session-cache-listener').digest(),
    );
  }

  sign(body: string): string {
    return `${body}.${this.mac(this.keys[0], body)}`;
  }

  /** The body of a signed token, or undefined when no key signed it. */
  open(token: string): string | undefined {
    const at = token.lastIndexOf('.');
    if (at < 0) return undefined;
    const body = token.slice(0, at);
    const given = Buffer.from(token.slice(at + 1));
    const ok = this.keys.some((key) => {
      const expected = Buffer.from(this.mac(key, body));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    return ok ? body : undefined;
  }

  private mac(key: Buffer, body: string): string {
    return createHmac('sha256', key).update(body).digest('hex').slice(0, MAC_HEX);
  }
}

type State = 'stopped' | 'connecting' | 'proving' | 'serving' | 'suspended';

/**
 * The one connection of an instance that LISTENs on its session table's channel, and what
 * it does with what it hears: each notification drops the entries it names from the cache.
 * The cache serves only while this is known to work: from a probe (a notification it sent
 * itself, over the serving pool) that came back after LISTEN, until the connection ends or
 * a periodic probe does not come back in time; it is then suspended (flushed, bypassed),
 * the connection replaced, and proven again. Emits `serving` and `suspended` (for tests and
 * logs) as the cache starts and stops serving, and `acknowledged` (whether by this instance)
 * for each answer to one of its barriers.
 *
 * Every instance hears every other's probes, so each knows which instances serve from a
 * cache (`peers`). An ending asks them all (`barrier`): each listener answers once it has
 * handled everything before the request, in commit order, so when every serving instance
 * has answered, none of them can serve the ended session any more.
 */
export class SessionInvalidationListener extends EventEmitter {
  private client?: pg.Client;
  private state: State = 'stopped';
  private readonly instance = randomUUID();
  private probes = 0;
  private readonly awaited = new Map<string, () => void>();
  /** Instances heard probing, by id: whether they serve, and when (monotonic ms). */
  private readonly peers = new Map<string, { serving: boolean; at: number }>();
  /** Barriers out, by token: called with each instance that acknowledged it. */
  private readonly barriers = new Map<string, (instance: string) => void>();
  private readonly barrierTimeoutMs: number;
  private readonly mac: ListenerMac;
  private timer?: NodeJS.Timeout;
  private reconnectDelay = RECONNECT_MIN_MS;
  private readonly healthIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly logger: Logger;
  private readonly where: string;
  private readonly metrics: BodhiMetrics;
  private readonly notifyQueueWarnAt: number;
  /** Whether the last usage read was past `notifyQueueWarnAt`: one warning per crossing. */
  private queueFilling = false;

  constructor(private readonly options: SessionInvalidationListenerOptions) {
    super();
    this.healthIntervalMs = options.healthIntervalMs ?? LISTENER_HEALTH_INTERVAL_MS;
    this.probeTimeoutMs = options.probeTimeoutMs ?? LISTENER_PROBE_TIMEOUT_MS;
    this.barrierTimeoutMs = options.barrierTimeoutMs ?? LISTENER_BARRIER_TIMEOUT_MS;
    this.mac = new ListenerMac(options.secrets);
    this.logger = options.logger ?? new Logger('SessionCache');
    this.metrics = options.metrics ?? new BodhiMetrics();
    this.notifyQueueWarnAt = options.notifyQueueWarnAt ?? NOTIFY_QUEUE_WARN_AT;
    this.where = describeSessionDb({ kind: 'postgres', url: options.listenUrl });
    options.cache.setBarrier(() => this.barrier());
  }

  /**
   * Resolves once every instance that serves from its cache (this one included) has
   * acknowledged a request sent now, over the serving pool: each has then handled every
   * change committed before it. At most `barrierTimeoutMs`; at once when none serves.
   */
  private barrier(): Promise<void> {
    const waiting = new Set(this.servingPeers());
    if (this.state === 'serving') waiting.add(this.instance);
    // Without a listening connection no answer could be heard.
    if (waiting.size === 0 || !this.client) return Promise.resolve();
    const token = randomUUID();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.barriers.delete(token);
        resolve();
      };
      const timer = setTimeout(done, this.barrierTimeoutMs);
      this.barriers.set(token, (instance) => {
        this.emit('acknowledged', instance === this.instance);
        waiting.delete(instance);
        if (waiting.size === 0) done();
      });
      this.notify(this.options.pool, { kind: 'barrier', token }).catch(done);
    });
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
      if (this.is('stopped')) return;
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

  private forgetStalePeers(): void {
    const now = performance.now();
    for (const [instance, peer] of this.peers) {
      if (now - peer.at >= PEER_TTL_MS) this.peers.delete(instance);
    }
  }

  /** The instances (this one included) heard lately saying they serve: what an ending waits for. */
  private servingPeers(): string[] {
    this.forgetStalePeers();
    return [...this.peers].filter(([, peer]) => peer.serving).map(([instance]) => instance);
  }

  /** How many instances an ending waits for now (`servingPeers`). */
  servingInstances(): number {
    return this.servingPeers().length;
  }

  /** Stops listening; the cache no longer serves. */
  async stop(): Promise<void> {
    const wasServing = this.state === 'serving';
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.options.cache.suspend('shutdown');
    // Tells the other instances not to wait for this one's answers any more.
    if (wasServing) {
      await this.sendProbe(this.options.pool, this.probeBody(false)).catch(() => undefined);
    }
    await this.closeClient();
  }

  /**
   * Sends `message` on the table's channel, over `sender` (the serving pool, or the
   * listener's connection); `columns` adds to the statement's answer.
   */
  private notify(
    sender: Pool | pg.Client,
    message: Invalidation,
    columns = '',
  ): Promise<pg.QueryResult> {
    return sender.query(`SELECT pg_notify($1, $2)${columns}`, [
      this.options.channel,
      invalidationPayload(message),
    ]);
  }

  /** A probe's body: this instance, a sequence number, and whether it serves. */
  private probeBody(serving: boolean): string {
    return `${this.instance}:${++this.probes}:${serving ? 1 : 0}`;
  }

  /** Ends the listening connection, if any (its events are then ignored). */
  private async closeClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Opens the listening connection (the previous one, if any, is already gone). */
  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.listenUrl,
      application_name: listenerApplicationName(this.options.channel),
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
    switch (message.kind) {
      case 'probe': {
        const body = this.mac.open(message.token);
        if (body === undefined) return;
        const [instance = '', , serving] = body.split(':');
        if (this.peers.size >= MAX_PEERS && !this.peers.has(instance)) this.forgetStalePeers();
        if (this.peers.size < MAX_PEERS || this.peers.has(instance)) {
          this.peers.set(instance, { serving: serving === '1', at: performance.now() });
        }
        this.awaited.get(body)?.();
        return;
      }
      case 'barrier':
        // Everything before it has been handled (notifications are handled as they come,
        // in commit order): say so, on this connection, to whoever asked.
        this.notify(client, {
          kind: 'ack',
          token: this.mac.sign(`${message.token}:${this.instance}`),
        }).catch(() => undefined);
        return;
      case 'ack': {
        const body = this.mac.open(message.token);
        if (body === undefined) return;
        const at = body.lastIndexOf(':');
        this.barriers.get(body.slice(0, at))?.(body.slice(at + 1));
        return;
      }
      default:
        this.options.cache.invalidate(message, 'notify');
    }
  }

  /**
   * Sends a probe and waits for it here; on its return the cache serves (again) and the
   * next health check is scheduled. False when it did not return. `via`: the serving pool,
   * to prove a new connection (the writers' path, which a pooler in between breaks); the
   * listening connection itself for the periodic checks, which a busy pool must not fail.
   */
  private async prove(via: 'pool' | 'listener' = 'pool'): Promise<boolean> {
    this.state = this.state === 'serving' ? 'serving' : 'proving';
    const ok = await this.roundTrip(via);
    // The connection may have ended, or stop() run, while the probe was out.
    if (this.is('stopped', 'suspended') || !this.client) return false;
    if (!ok) return false;
    if (this.state !== 'serving') {
      this.state = 'serving';
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.options.cache.resume();
      this.emit('serving');
      // Tell the other instances at once that this one serves: their endings wait for it.
      void this.roundTrip();
    }
    this.schedule(() => this.check(), this.healthIntervalMs);
    return true;
  }

  /**
   * Sends a probe (over `via`) and waits for it here: true when it came back, false at the
   * timeout, or as soon as it could not be sent.
   */
  private async roundTrip(via: 'pool' | 'listener' = 'pool'): Promise<boolean> {
    const sender = via === 'pool' ? this.options.pool : this.client;
    if (!sender) return false;
    const body = this.probeBody(this.state === 'serving');
    let timer: NodeJS.Timeout | undefined;
    // True when it comes back; false at the timeout, or as soon as it cannot be sent.
    const arrived = new Promise<boolean>((resolve) => {
      this.awaited.set(body, () => resolve(true));
      timer = setTimeout(() => resolve(false), this.probeTimeoutMs);
      this.sendProbe(sender, body).catch(() => resolve(false));
    });
    const ok = await arrived;
    clearTimeout(timer);
    this.awaited.delete(body);
    return ok;
  }

  /**
   * Sends the probe `body`, signed, and reads in the same statement how full PostgreSQL's
   * notification queue is (the queue every instance's notifications share).
   */
  private async sendProbe(sender: Pool | pg.Client, body: string): Promise<void> {
    const { rows } = await this.notify(
      sender,
      { kind: 'probe', token: this.mac.sign(body) },
      ', pg_notification_queue_usage() AS usage',
    );
    this.queueUsage(Number(rows[0]?.usage ?? 0));
  }

  private queueUsage(usage: number): void {
    this.metrics.sessionCacheNotifyQueueUsage.set(usage);
    const filling = usage >= this.notifyQueueWarnAt;
    if (filling && !this.queueFilling) {
      this.logger.warn(
        `PostgreSQL's notification queue is ${(usage * 100).toFixed(1)}% full on ${this.where}: ` +
          'a connection listening on this database has stopped reading (a frozen instance?). ' +
          'At full, every session write fails: end that connection (pg_terminate_backend)',
      );
    } else if (!filling && this.queueFilling) {
      this.logger.log(`PostgreSQL's notification queue is emptying on ${this.where}`);
    }
    this.queueFilling = filling;
  }

  /** A periodic health check: a probe that does not come back suspends and reconnects. */
  private async check(): Promise<void> {
    if (this.state !== 'serving') return;
    if (await this.prove('listener')) return;
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
    void this.closeClient();
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
      // A connection made while stop() ran.
      await this.closeClient();
      return;
    }
    if (await this.prove()) {
      this.logger.log(`Session cache on again: listening on ${this.where}`);
    } else if (this.is('proving')) {
      this.suspend('health_check');
    }
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
