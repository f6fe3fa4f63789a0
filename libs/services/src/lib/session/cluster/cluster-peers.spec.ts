import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ChannelSigner } from '../crypto/channel-signing.js';
import type { PeerMessage } from './channel-messages.js';
import { type BarrierOutcome, ClusterPeers, FRESHNESS_WINDOW_MS } from './cluster-peers.js';

const SECRETS = ['cluster-secret'];
const PEER_TTL_MS = 3000;
const BARRIER_TIMEOUT_MS = 1000;
const START = new Date('2025-01-01T00:00:00Z').getTime();

/** One instance's peers, and what it reported: its barriers' outcomes, the skews it refused. */
function instance(secrets = SECRETS) {
  const outcomes: BarrierOutcome[] = [];
  const skews: number[] = [];
  const peers = new ClusterPeers({
    signer: new ChannelSigner(secrets),
    peerTtlMs: PEER_TTL_MS,
    barrierTimeoutMs: BARRIER_TIMEOUT_MS,
    onBarrier: (outcome) => outcomes.push(outcome),
    onClockSkew: (skewMs) => skews.push(skewMs),
  });
  return { peers, outcomes, skews, id: peers.instance };
}
type Instance = ReturnType<typeof instance>;

const probeOf = (from: Instance, serving: boolean) => from.peers.probe(serving).message.token;

/**
 * A barrier of `from`'s (which serves), heard by each of `answering` (`from` itself among
 * them when it answers its own), whose answers `from` hears: the barrier's promise.
 */
function barrierAnsweredBy(from: Instance, answering: Instance[]): Promise<void> {
  return from.peers.barrier({
    serving: true,
    listening: true,
    send: async (message) => {
      for (const peer of answering) {
        const ack = peer.peers.heardBarrier(message.token);
        if (ack) from.peers.heardAnswer(ack.token);
      }
    },
  });
}

/** The barrier `from` sends, as the channel carries it (left unanswered). */
function barrierMessage(from: Instance): PeerMessage {
  let sent: PeerMessage | undefined;
  void from.peers.barrier({
    serving: true,
    listening: true,
    send: async (message) => (sent = message),
  });
  return sent as PeerMessage;
}

/** The instances `of` waits for (serving itself), sorted. */
const waited = (of: Instance) => of.peers.waitedFor(true).sort();
const sorted = (...of: Instance[]) => of.map((i) => i.id).sort();

describe('ClusterPeers', () => {
  let a: Instance;
  let b: Instance;

  beforeEach(() => {
    jest.useFakeTimers({ now: START });
    [a, b] = [instance(), instance()];
  });
  afterEach(() => jest.useRealTimers());

  describe('probes', () => {
    it("records another instance's signed probe; gives back the number of its own, unrecorded", () => {
      expect(a.peers.heardProbe(probeOf(b, true))).toBeUndefined();
      expect(waited(a)).toEqual(sorted(a, b));
      const own = a.peers.probe(true);
      expect(a.peers.heardProbe(own.message.token)).toBe(own.counter);
      expect(a.peers.waitedFor(false)).toEqual([b.id]);
    });

    it("takes only B's newest word: a replay, or an older probe after a newer, changes nothing", () => {
      const proving = probeOf(b, false);
      const serving = probeOf(b, true);
      a.peers.heardProbe(serving);
      a.peers.heardProbe(proving);
      a.peers.heardProbe(serving);
      expect(waited(a)).toEqual(sorted(a, b));
      // B stops: its own fresh probe, and only that, says it no longer serves.
      a.peers.heardProbe(probeOf(b, false));
      a.peers.heardProbe(serving);
      expect(waited(a)).toEqual([a.id]);
    });

    it("remembers B's newest number past the peer TTL, as long as a replay could be in the window", () => {
      const serving = probeOf(b, true);
      a.peers.heardProbe(serving);
      a.peers.heardProbe(probeOf(b, false));
      for (const ms of [PEER_TTL_MS, FRESHNESS_WINDOW_MS - PEER_TTL_MS]) {
        jest.advanceTimersByTime(ms);
        a.peers.heardProbe(serving);
        expect(waited(a)).toEqual([a.id]);
      }
      // Past the window the replay is refused by its age, and said to be (a skewed clock looks the same).
      jest.advanceTimersByTime(1);
      a.peers.heardProbe(serving);
      expect(waited(a)).toEqual([a.id]);
      expect(a.skews).toEqual([-(FRESHNESS_WINDOW_MS + 1)]);
    });

    it("a receiver that never heard B takes one replay of B's probe from inside the window: the limit", () => {
      const serving = probeOf(b, true);
      // B stops; `late` starts after, and did not hear it.
      probeOf(b, false);
      const late = instance();
      late.peers.heardProbe(serving);
      expect(late.peers.waitedFor(false)).toEqual([b.id]);
      // Once only, and for the peer TTL.
      jest.advanceTimersByTime(PEER_TTL_MS);
      late.peers.heardProbe(serving);
      expect(late.peers.waitedFor(false)).toEqual([]);
    });

    it.each([
      ['behind', -(FRESHNESS_WINDOW_MS + 1)],
      ['ahead', FRESHNESS_WINDOW_MS + 1],
    ])("refuses a probe sent more than the window %s of this host's clock", (_, skewMs) => {
      jest.setSystemTime(START + skewMs);
      const probe = probeOf(b, true);
      jest.setSystemTime(START);
      a.peers.heardProbe(probe);
      expect(waited(a)).toEqual([a.id]);
      expect(a.skews).toEqual([skewMs]);
    });

    it('takes a probe from a host whose clock is off by less than the window', () => {
      jest.setSystemTime(START + FRESHNESS_WINDOW_MS - 1);
      const probe = probeOf(b, true);
      jest.setSystemTime(START);
      a.peers.heardProbe(probe);
      expect(waited(a)).toEqual(sorted(a, b));
    });

    it('waits no longer for an instance not heard for the peer TTL', () => {
      a.peers.heardProbe(probeOf(b, true));
      jest.advanceTimersByTime(PEER_TTL_MS - 1);
      expect(waited(a)).toEqual(sorted(a, b));
      jest.advanceTimersByTime(1);
      expect(waited(a)).toEqual([a.id]);
    });

    it("refuses a probe signed by another cluster, unsigned, or with the probe's shape and a made-up signature", () => {
      const stranger = instance(['not-the-cluster-secret']);
      a.peers.heardProbe(probeOf(stranger, true));
      a.peers.heardProbe(`${randomUUID()}:1:${START}:1`);
      a.peers.heardProbe(`${randomUUID()}:1:${START}:1.${'0'.repeat(32)}`);
      expect(waited(a)).toEqual([a.id]);
      expect(a.skews).toEqual([]);
    });

    it('1000 forged probes and replays do not crowd out a new instance', () => {
      const c = instance();
      const answer = b.peers.heardBarrier(barrierMessage(c).token) as PeerMessage;
      for (let i = 0; i < 1000; i++) {
        a.peers.heardProbe(`${randomUUID()}:1:${START}:0.${'0'.repeat(32)}`);
        a.peers.heardProbe(answer.token);
      }
      a.peers.heardProbe(probeOf(c, true));
      expect(waited(a)).toEqual(sorted(a, c));
    });

    it('with 1000 real instances known, a new one is still recorded (the least recently heard goes)', () => {
      const known = Array.from({ length: 1000 }, () => instance());
      for (const peer of known) a.peers.heardProbe(probeOf(peer, true));
      a.peers.heardProbe(probeOf(b, true));
      const waitedFor = a.peers.waitedFor(false);
      expect(waitedFor).toHaveLength(1000);
      expect(waitedFor).toContain(b.id);
      expect(waitedFor).not.toContain(known[0].id);
    });
  });

  describe('barriers', () => {
    it('answers a signed, fresh barrier once: not its replay', () => {
      const barrier = barrierMessage(a);
      const answer = b.peers.heardBarrier(barrier.token);
      expect(answer).toMatchObject({ kind: 'ack' });
      expect(b.peers.heardBarrier(barrier.token)).toBeUndefined();
    });

    it.each([
      ['unsigned (issue #28: b:EVIL:0:1)', 'EVIL:0:1'],
      [
        "in the barrier's shape with a made-up signature",
        `${randomUUID()}:${START}.${'0'.repeat(32)}`,
      ],
    ])('answers no barrier %s', (_, token) => {
      expect(b.peers.heardBarrier(token)).toBeUndefined();
    });

    it('answers no barrier sent more than the window ago', () => {
      const barrier = barrierMessage(a);
      jest.setSystemTime(START + FRESHNESS_WINDOW_MS + 1);
      expect(b.peers.heardBarrier(barrier.token)).toBeUndefined();
      expect(b.skews).toEqual([-(FRESHNESS_WINDOW_MS + 1)]);
    });

    it('no message of one kind is taken as another: answers, probes and barriers reflected', () => {
      const barrier = barrierMessage(a);
      const answer = b.peers.heardBarrier(barrier.token) as PeerMessage;
      const probe = probeOf(b, true);
      a.peers.heardProbe(answer.token);
      a.peers.heardProbe(barrier.token);
      expect(waited(a)).toEqual([a.id]);
      expect(b.peers.heardBarrier(answer.token)).toBeUndefined();
      expect(b.peers.heardBarrier(probe)).toBeUndefined();
    });

    it('ends answered once every serving instance answered, saying whom it waited for', async () => {
      a.peers.heardProbe(probeOf(b, true));
      await barrierAnsweredBy(a, [a, b]);
      expect(a.outcomes).toEqual([{ waitedFor: sorted(a, b), unanswered: [], ended: 'answered' }]);
    });

    it("counts only answers signed by their instance, to this barrier: B's missing one times it out", async () => {
      a.peers.heardProbe(probeOf(b, true));
      // B's genuine answer to another instance's barrier, and a forged one to this.
      const elsewhere = b.peers.heardBarrier(barrierMessage(instance()).token) as PeerMessage;
      const ending = a.peers.barrier({
        serving: true,
        listening: true,
        send: async (message) => {
          a.peers.heardAnswer((a.peers.heardBarrier(message.token) as PeerMessage).token);
          a.peers.heardAnswer(elsewhere.token);
          a.peers.heardAnswer(`${message.token.split(':')[0]}:${b.id}.${'0'.repeat(32)}`);
        },
      });
      await jest.advanceTimersByTimeAsync(BARRIER_TIMEOUT_MS);
      await ending;
      expect(a.outcomes).toEqual([
        { waitedFor: sorted(a, b), unanswered: [b.id], ended: 'timed_out' },
      ]);
    });

    it('waits for none when none serves, and not at all when it does not listen', async () => {
      await a.peers.barrier({ serving: false, listening: true, send: async () => undefined });
      await a.peers.barrier({ serving: true, listening: false, send: async () => undefined });
      expect(a.outcomes).toEqual([
        { waitedFor: [], unanswered: [], ended: 'answered' },
        { waitedFor: [a.id], unanswered: [a.id], ended: 'unsent' },
      ]);
    });
  });
});
