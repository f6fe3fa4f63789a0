import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { Pool } from 'pg';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { redactUrlPasswords } from '../../util/redact.util.js';
import { describeSessionDb } from '../config/session-db-url.util.js';
import type { SessionCache } from '../cache/session-cache.js';
import { ChannelSigner } from '../crypto/channel-signing.js';
import {
  type ChannelMessage,
  channelPayload,
  type PeerMessage,
  listenerApplicationName,
  parseChannelMessage,
} from './channel-messages.js';
import { ClusterPeers, FRESHNESS_WINDOW_MS } from './cluster-peers.js';
import { NOTIFY_QUEUE_WARN_AT, NotifyQueueMonitor } from './notify-queue.monitor.js';
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
/** Reconnection waits, doubling from the first to the last. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/**
 * What the listener drives in the cache: the changes it hears, and whether the cache may
 * serve. (An ending's wait for the other instances, `SessionCache.setBarrier`, is wired by
 * the composition root: `barrier`.)
 */
export type ListenedCache = Pick<SessionCache, 'invalidate' | 'suspend' | 'resume'>;

export interface SessionInvalidationListenerOptions {
  /** A direct PostgreSQL URL (LISTEN holds a connection of its own). */
  listenUrl: string;
  /** The table's channel (`invalidationChannel`). */
  channel: string;
  cache: ListenedCache;
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
   * The cluster's session secrets (the first signs): what the instances' probes, barriers
   * and answers are signed with (each kind with keys of its own), so that another role of
   * the database, which may NOTIFY on any channel, cannot pose as a serving instance (every
   * ending would wait for it), silence one, ask for answers, or answer for one.
   */
  secrets: readonly string[];
  /** Where the notification queue's usage is reported (each probe reads it). */
  metrics?: BodhiMetrics;
  /** Share of the notification queue in use past which it warns; default NOTIFY_QUEUE_WARN_AT. */
  notifyQueueWarnAt?: number;
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
 * logs) as the cache starts and stops serving, `acknowledged` (whether by this instance)
 * for each answer to one of its barriers, and `barrier` (a `BarrierOutcome`) as each of its
 * barriers ends.
 *
 * The probes also tell the other instances this one is there, and whether it serves; the
 * other listeners' messages (probes, barriers, answers) go to `ClusterPeers`, the changes
 * to the cache.
 */
export class SessionInvalidationListener extends EventEmitter {
  private client?: pg.Client;
  private state: State = 'stopped';
  /** This instance's probes out, by number: called when one comes back. */
  private readonly awaited = new Map<number, () => void>();
  /** Whether the clock-skew warning was given (once per process: a replay looks the same). */
  private skewWarned = false;
  private readonly peers: ClusterPeers;
  private readonly notifyQueue: NotifyQueueMonitor;
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
    this.peers = new ClusterPeers({
      signer: new ChannelSigner(options.secrets),
      peerTtlMs: PEER_TTL_MS,
      barrierTimeoutMs: options.barrierTimeoutMs ?? LISTENER_BARRIER_TIMEOUT_MS,
      onAcknowledged: (self) => this.emit('acknowledged', self),
      onBarrier: (outcome) => this.emit('barrier', outcome),
      onClockSkew: (skewMs) => this.clockSkewed(skewMs),
    });
    this.notifyQueue = new NotifyQueueMonitor({
      metrics: options.metrics ?? new BodhiMetrics(),
      warnAt: options.notifyQueueWarnAt ?? NOTIFY_QUEUE_WARN_AT,
      logger: this.logger,
      where: this.where,
    });
  }

  /**
   * Resolves once every instance that serves from its cache (this one included) has
   * acknowledged a request sent now, over the serving pool: each has then handled every
   * change committed before it. At most `barrierTimeoutMs`; at once when none serves.
   * What the cache's `announced` waits for (`SessionCache.setBarrier`).
   */
  barrier(): Promise<void> {
    return this.peers.barrier({
      serving: this.state === 'serving',
      listening: this.client !== undefined,
      send: (message) => this.notify(this.options.pool, message),
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

  /** This instance's id on the channel: what its probes and answers name it by. */
  get instance(): string {
    return this.peers.instance;
  }

  /** How many instances (this one included) an ending waits for now: those heard serving. */
  servingInstances(): number {
    return this.peers.waitedFor(this.state === 'serving').length;
  }

  /** Stops listening; the cache no longer serves. */
  async stop(): Promise<void> {
    const wasServing = this.state === 'serving';
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.options.cache.suspend('shutdown');
    // Tells the other instances not to wait for this one's answers any more.
    if (wasServing) {
      await this.sendProbe(this.options.pool, this.peers.probe(false).message).catch(
        () => undefined,
      );
    }
    await this.closeClient();
  }

  /**
   * Sends `message` on the table's channel, over `sender` (the serving pool, or the
   * listener's connection); `columns` adds to the statement's answer.
   */
  private notify(
    sender: Pool | pg.Client,
    message: ChannelMessage,
    columns = '',
  ): Promise<pg.QueryResult> {
    return sender.query(`SELECT pg_notify($1, $2)${columns}`, [
      this.options.channel,
      channelPayload(message),
    ]);
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

  /** Routes a notification: a change to the cache, the listeners' own messages to the peers. */
  private heard(client: pg.Client, payload: string): void {
    if (client !== this.client) return;
    const message = parseChannelMessage(payload);
    switch (message.kind) {
      case 'change':
        this.options.cache.invalidate(message.change, 'notify');
        return;
      case 'probe': {
        const own = this.peers.heardProbe(message.token);
        if (own !== undefined) this.awaited.get(own)?.();
        return;
      }
      case 'barrier': {
        // Everything before it has been handled (notifications are handled as they come,
        // in commit order): say so, on this connection, to the instance that asked.
        const answer = this.peers.heardBarrier(message.token);
        if (answer) this.notify(client, answer).catch(() => undefined);
        return;
      }
      case 'ack':
        this.peers.heardAnswer(message.token);
        return;
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
    const probe = this.peers.probe(this.state === 'serving');
    let timer: NodeJS.Timeout | undefined;
    // True when it comes back; false at the timeout, or as soon as it cannot be sent.
    const arrived = new Promise<boolean>((resolve) => {
      this.awaited.set(probe.counter, () => resolve(true));
      timer = setTimeout(() => resolve(false), this.probeTimeoutMs);
      this.sendProbe(sender, probe.message).catch(() => resolve(false));
    });
    const ok = await arrived;
    clearTimeout(timer);
    this.awaited.delete(probe.counter);
    return ok;
  }

  /**
   * Sends a probe (`ClusterPeers.probe`), and reads in the same statement how full
   * PostgreSQL's notification queue is (the queue every instance's notifications share).
   */
  private async sendProbe(sender: Pool | pg.Client, probe: PeerMessage): Promise<void> {
    const { rows } = await this.notify(sender, probe, `, ${NotifyQueueMonitor.usageColumn}`);
    this.notifyQueue.report(rows[0]);
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

  /**
   * A signed probe or barrier sent too far from this host's clock: refused (`ClusterPeers`),
   * and said once, since an instance that is not waited for only shows in the endings' wait.
   */
  private clockSkewed(skewMs: number): void {
    if (this.skewWarned) return;
    this.skewWarned = true;
    const by = `${Math.round(Math.abs(skewMs) / 1000)} s ${skewMs < 0 ? 'behind' : 'ahead of'}`;
    this.logger.warn(
      `Session cache: a signed message on the channel of ${this.where} says it was sent ` +
        `${by} this host's clock, past the ${FRESHNESS_WINDOW_MS / 1000} s allowed, and was ` +
        "ignored: instances whose clocks differ by more do not wait for each other's caches " +
        "(synchronize the hosts' clocks). An old message replayed on the channel looks the " +
        'same; this is said once.',
    );
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
