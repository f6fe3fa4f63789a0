/**
 * What the listeners' signed messages say: the body under each signature (`ChannelSigner`,
 * one domain per kind), written and read here only. A body that does not read back exactly
 * is refused whole.
 */

/** An instance's probe. */
export interface ProbeBody {
  /** The instance (a random UUID, new in each process). */
  instance: string;
  /** Its probes' number, from 1, strictly increasing within the process. */
  counter: number;
  /** When it was sent, by its sender's clock (epoch ms). */
  sentAt: number;
  /** Whether the instance serves from its cache (then endings wait for it). */
  serving: boolean;
}

/** An ending's request that every serving instance answer once it has handled what came before. */
export interface BarrierBody {
  /** Random (a UUID), new for each barrier: what the answers name it by. */
  token: string;
  /** When it was sent, by its sender's clock (epoch ms). */
  sentAt: number;
}

/** An instance's answer to one barrier. */
export interface AckBody {
  /** The barrier's token: the challenge only that barrier's sender is waiting on. */
  token: string;
  /** The instance that answers. */
  instance: string;
}

/** How one kind's body is written and read. */
export interface BodyFormat<T> {
  write(body: T): string;
  /** The body `text` writes, or undefined when it is not one. */
  read(text: string): T | undefined;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A whole number within JavaScript's safe integers. */
const WHOLE = '(?:0|[1-9][0-9]{0,14})';

const PROBE = new RegExp(`^(${UUID}):(${WHOLE}):(${WHOLE}):([01])$`);
const BARRIER = new RegExp(`^(${UUID}):(${WHOLE})$`);
const ACK = new RegExp(`^(${UUID}):(${UUID})$`);

/** `instance:counter:sentAt:serving` (serving `1` or `0`). */
export const probeFormat: BodyFormat<ProbeBody> = {
  write: (p) => `${p.instance}:${p.counter}:${p.sentAt}:${p.serving ? 1 : 0}`,
  read(text) {
    const m = PROBE.exec(text);
    if (!m) return undefined;
    return { instance: m[1], counter: Number(m[2]), sentAt: Number(m[3]), serving: m[4] === '1' };
  },
};

/** `token:sentAt`. */
export const barrierFormat: BodyFormat<BarrierBody> = {
  write: (b) => `${b.token}:${b.sentAt}`,
  read(text) {
    const m = BARRIER.exec(text);
    return m ? { token: m[1], sentAt: Number(m[2]) } : undefined;
  },
};

/** `token:instance`. */
export const ackFormat: BodyFormat<AckBody> = {
  write: (a) => `${a.token}:${a.instance}`,
  read(text) {
    const m = ACK.exec(text);
    return m ? { token: m[1], instance: m[2] } : undefined;
  },
};
