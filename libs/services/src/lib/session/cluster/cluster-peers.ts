import { randomUUID } from 'node:crypto';
import type { ChannelSigner } from '../crypto/channel-signing.js';
import type { PeerMessage } from './channel-messages.js';

/** Most instances remembered: more than any cluster, fewer than a flood of forged ids. */
const MAX_PEERS = 1000;

export interface ClusterPeersOptions {
  /** Signs this instance's probes and answers, and checks the others'. */
  signer: ChannelSigner;
  /** An instance whose probes have not been heard for this long is no longer waited for. */
  peerTtlMs: number;
  /** Longest a barrier waits for the serving instances' answers. */
  barrierTimeoutMs: number;
  /** Called with each answer to one of this instance's barriers: whether this instance gave it. */
  onAcknowledged?: (self: boolean) => void;
  /** Called as each of this instance's barriers ends, with how it ended. */
  onBarrier?: (outcome: BarrierOutcome) => void;
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
 */
export class ClusterPeers {
  /** This instance's id in its probes and answers. */
  readonly instance = randomUUID();
  private probes = 0;
  /** Instances heard probing, by id: whether they serve, and when (monotonic ms). */
  private readonly peers = new Map<string, { serving: boolean; at: number }>();
  /** Barriers out, by token: called with each instance that acknowledged it. */
  private readonly barriers = new Map<string, (instance: string) => void>();

  constructor(private readonly options: ClusterPeersOptions) {}

  /** A probe's body: this instance, a sequence number, and whether it serves. */
  probeBody(serving: boolean): string {
    return `${this.instance}:${++this.probes}:${serving ? 1 : 0}`;
  }

  /** The probe of `body` (`probeBody`), signed: what `heardProbe` opens. */
  probe(body: string): PeerMessage {
    return { kind: 'probe', token: this.options.signer.sign(body) };
  }

  /**
   * Records the instance a probe heard comes from; its body, or undefined when it is not
   * signed with the cluster's secrets (it is then ignored).
   */
  heardProbe(token: string): string | undefined {
    const body = this.options.signer.open(token);
    if (body === undefined) return undefined;
    const [instance = '', , serving] = body.split(':');
    if (this.peers.size >= MAX_PEERS && !this.peers.has(instance)) this.forgetStalePeers();
    if (this.peers.size < MAX_PEERS || this.peers.has(instance)) {
      this.peers.set(instance, { serving: serving === '1', at: performance.now() });
    }
    return body;
  }

  /**
   * This instance's answer to a barrier heard (`token`, the request's), to send once
   * everything before it has been handled.
   */
  answer(token: string): PeerMessage {
    return { kind: 'ack', token: this.options.signer.sign(`${token}:${this.instance}`) };
  }

  /** Counts an answer heard (signed) towards the barrier it answers, if it is this instance's. */
  heardAnswer(token: string): void {
    const body = this.options.signer.open(token);
    if (body === undefined) return;
    const at = body.lastIndexOf(':');
    this.barriers.get(body.slice(0, at))?.(body.slice(at + 1));
  }

  /**
   * Resolves once every instance that serves from its cache (this one included, when
   * `request.serving`) has acknowledged a request sent now: each has then handled every
   * change committed before it. At most `barrierTimeoutMs`; at once when none serves, or
   * when this instance does not listen.
   */
  barrier(request: BarrierRequest): Promise<void> {
    const waiting = new Set(this.servingPeers());
    if (request.serving) waiting.add(this.instance);
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
      request.send({ kind: 'barrier', token }).catch(() => done('unsent'));
    });
  }

  /** How many instances an ending waits for now (`servingPeers`). */
  servingInstances(): number {
    return this.servingPeers().length;
  }

  /** The instances (this one included) heard lately saying they serve: what an ending waits for. */
  private servingPeers(): string[] {
    this.forgetStalePeers();
    return [...this.peers].filter(([, peer]) => peer.serving).map(([instance]) => instance);
  }

  private forgetStalePeers(): void {
    const now = performance.now();
    for (const [instance, peer] of this.peers) {
      if (now - peer.at >= this.options.peerTtlMs) this.peers.delete(instance);
    }
  }
}
