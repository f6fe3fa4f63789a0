import { randomUUID } from 'node:crypto';
import type { ChannelDomain, ChannelSigner } from '../crypto/channel-signing.js';
import type { PeerMessage } from './channel-messages.js';
import { ackFormat, barrierFormat, type BodyFormat, probeFormat } from './peer-bodies.js';
import { RecentMap } from './recent-map.js';

/**
 * How far the send time a probe or a barrier carries (its sender's clock) may be from this
 * host's clock, either way, for it to be taken: what bounds how long a captured one can be
 * replayed. Ten times the peer TTL (3 s), and far above the skew of hosts whose clocks are
 * synchronized; instances whose clocks differ by more do not wait for each other (endings
 * still reach them through the triggers' notifications).
 */
export const FRESHNESS_WINDOW_MS = 30_000;
/**
 * How long what a fresh message said (an instance's highest probe number, a barrier
 * answered) is remembered: past it, a replay of that message is outside the window, even
 * one from a sender whose clock ran ahead by the whole window.
 */
const REMEMBER_MS = 2 * FRESHNESS_WINDOW_MS;
/**
 * Most instances remembered: more than any cluster. Only an instance's own signed, fresh
 * probe adds it, so no forgery can crowd one out; past it the least recently heard go.
 */
const MAX_PEERS = 1000;
/** Most barriers remembered as answered (past it the oldest go, and may be answered twice). */
const MAX_ANSWERED = 10_000;

export interface ClusterPeersOptions {
  /** Signs this instance's probes, barriers and answers, and checks the others'. */
  signer: ChannelSigner;
  /** An instance whose probes have not been heard for this long is no longer waited for. */
  peerTtlMs: number;
  /** Longest a barrier waits for the serving instances' answers. */
  barrierTimeoutMs: number;
  /** Called with each answer to one of this instance's barriers: whether this instance gave it. */
  onAcknowledged?: (self: boolean) => void;
  /** Called as each of this instance's barriers ends, with how it ended. */
  onBarrier?: (outcome: BarrierOutcome) => void;
  /**
   * Called with a signed probe's or barrier's send time less this host's clock (ms) when it
   * is outside FRESHNESS_WINDOW_MS: a host whose clock is off, or a replay (refused alike).
   */
  onClockSkew?: (skewMs: number) => void;
}

/**
 * How one barrier ended: whom it waited for, and whether every one of them answered before
 * `barrierTimeoutMs` (an ending that timed out returned before they all had dropped it).
 */
export interface BarrierOutcome {
  /** The instances it waited for (this one included when it serves), sorted. */
  waitedFor: string[];
  /** Those that had not answered when it ended, sorted: empty when `ended` is `answered`. */
  unanswered: string[];
  /**
   * `answered`: every instance waited for answered (at once when none serves); `timed_out`:
   * some had not within `barrierTimeoutMs`; `unsent`: the request could not be sent, or
   * this instance does not listen (no answer could be heard), so it did not wait.
   */
  ended: 'answered' | 'timed_out' | 'unsent';
}

/** How a barrier goes out: what the listener knows of itself, and how it sends. */
export interface BarrierRequest {
  /** Whether this instance serves from its cache (it then waits for its own answer too). */
  serving: boolean;
  /** Whether this instance listens now: without a listening connection no answer is heard. */
  listening: boolean;
  /** Sends the request on the channel (over the serving pool). */
  send(message: PeerMessage): Promise<unknown>;
}

/**
 * This instance among the others sharing a session table, as their listeners' messages
 * tell it. Every instance hears every other's probes, so each knows which instances serve
 * from a cache. An ending asks them all (`barrier`): each listener answers once it has
 * handled everything before the request, in commit order, so when every serving instance
 * has answered, none of them can serve the ended session any more.
 *
 * Any role of the database may LISTEN and NOTIFY on the channel, so nothing heard there is
 * taken unless it is signed in its own kind's domain (`ChannelSigner`) and fresh: a probe is
 * taken only when sent within FRESHNESS_WINDOW_MS of this host's clock and numbered above
 * every probe heard from its instance (so it is the newest word of that instance: only its
 * own probe says whether it serves); a barrier is answered only when so signed, in the
 * window, and not answered before; an answer counts only for a barrier of this instance's
 * still waiting (its token is the challenge), once per instance.
 */
export class ClusterPeers {
  /** This instance's id in its probes and answers. */
  readonly instance = randomUUID();
  private probes = 0;
  /** Other instances, by id, as their own fresh probes said: the highest number, whether it serves. */
  private readonly peers = new RecentMap<{ counter: number; serving: boolean }>({
    retainMs: REMEMBER_MS,
    max: MAX_PEERS,
  });
  /** The tokens of the barriers this instance has answered: a replay is not answered again. */
  private readonly answered = new RecentMap<true>({ retainMs: REMEMBER_MS, max: MAX_ANSWERED });
  /** Barriers out, by token: called with each instance that acknowledged it. */
  private readonly barriers = new Map<string, (instance: string) => void>();

  constructor(private readonly options: ClusterPeersOptions) {}

  /**
   * This instance's next probe, signed: its number (what `heardProbe` gives back when it
   * comes back) and the message.
   */
  probe(serving: boolean): { counter: number; message: PeerMessage } {
    const counter = ++this.probes;
    const body = probeFormat.write({
      instance: this.instance,
      counter,
      sentAt: Date.now(),
      serving,
    });
    return { counter, message: { kind: 'probe', token: this.options.signer.sign('probe', body) } };
  }

  /**
   * Takes a probe heard: the number of this instance's own probe when it is one (the
   * listener matches it with the one it waits for); another instance's is recorded when
   * signed, fresh and newer than any heard from it, and anything else is ignored.
   */
  heardProbe(token: string): number | undefined {
    const probe = this.open('probe', token, probeFormat);
    if (!probe) return undefined;
    if (probe.instance === this.instance) return probe.counter;
    if (!this.fresh(probe.sentAt)) return undefined;
    const known = this.peers.get(probe.instance);
    if (known && probe.counter <= known.counter) return undefined;
    this.peers.set(probe.instance, { counter: probe.counter, serving: probe.serving });
    return undefined;
  }

  /**
   * This instance's answer to a barrier heard, to send once everything before it has been
   * handled; undefined when the barrier is not signed, not fresh, or answered already.
   */
  heardBarrier(token: string): PeerMessage | undefined {
    const barrier = this.open('barrier', token, barrierFormat);
    if (!barrier || !this.fresh(barrier.sentAt) || this.answered.get(barrier.token)) {
      return undefined;
    }
    this.answered.set(barrier.token, true);
    const body = ackFormat.write({ token: barrier.token, instance: this.instance });
    return { kind: 'ack', token: this.options.signer.sign('ack', body) };
  }

  /** Counts an answer heard (signed) towards the barrier it answers, if it is this instance's. */
  heardAnswer(token: string): void {
    const ack = this.open('ack', token, ackFormat);
    if (ack) this.barriers.get(ack.token)?.(ack.instance);
  }

  /**
   * Resolves once every instance that serves from its cache (this one included, when
   * `request.serving`) has acknowledged a request sent now: each has then handled every
   * change committed before it. At most `barrierTimeoutMs`; at once when none serves, or
   * when this instance does not listen.
   */
  barrier(request: BarrierRequest): Promise<void> {
    const waiting = new Set(this.waitedFor(request.serving));
    const waitedFor = [...waiting].sort();
    const end = (ended: BarrierOutcome['ended']) =>
      this.options.onBarrier?.({ waitedFor, unanswered: [...waiting].sort(), ended });
    if (!request.listening) {
      end('unsent');
      return Promise.resolve();
    }
    if (waiting.size === 0) {
      end('answered');
      return Promise.resolve();
    }
    const token = randomUUID();
    const body = barrierFormat.write({ token, sentAt: Date.now() });
    return new Promise<void>((resolve) => {
      const done = (ended: BarrierOutcome['ended']) => {
        clearTimeout(timer);
        this.barriers.delete(token);
        end(ended);
        resolve();
      };
      const timer = setTimeout(() => done('timed_out'), this.options.barrierTimeoutMs);
      this.barriers.set(token, (instance) => {
        this.options.onAcknowledged?.(instance === this.instance);
        waiting.delete(instance);
        if (waiting.size === 0) done('answered');
      });
      request
        .send({ kind: 'barrier', token: this.options.signer.sign('barrier', body) })
        .catch(() => done('unsent'));
    });
  }

  /**
   * The instances an ending waits for now: those whose latest probe, heard within the peer
   * TTL, said they serve, and this one when `serving`.
   */
  waitedFor(serving: boolean): string[] {
    const instances: string[] = [];
    for (const [instance, peer] of this.peers.setWithin(this.options.peerTtlMs)) {
      if (peer.serving) instances.push(instance);
    }
    return serving ? [...instances, this.instance] : instances;
  }

  /** The body of a token signed as `domain`, read by `format`; undefined when either fails. */
  private open<T>(domain: ChannelDomain, token: string, format: BodyFormat<T>): T | undefined {
    const body = this.options.signer.open(domain, token);
    return body === undefined ? undefined : format.read(body);
  }

  /** Whether `sentAt` (the sender's clock) is within the window of this host's clock. */
  private fresh(sentAt: number): boolean {
    const skewMs = sentAt - Date.now();
    if (Math.abs(skewMs) <= FRESHNESS_WINDOW_MS) return true;
    this.options.onClockSkew?.(skewMs);
    return false;
  }
}
