import { createHmac, timingSafeEqual } from 'node:crypto';

/** Hex digits of a signature (128 bits). */
const MAC_HEX = 32;

/**
 * What a signature on the channel vouches for: an instance's probe, an ending's barrier, or
 * an instance's answer to one. Each kind has keys of its own, so a token signed as one kind
 * never opens as another: an answer the listener gives to whatever barrier it hears cannot
 * be replayed as a probe (issue #28: it was, and posed as a serving instance).
 */
export type ChannelDomain = 'probe' | 'barrier' | 'ack';

const DOMAINS: readonly ChannelDomain[] = ['probe', 'barrier', 'ack'];

/**
 * Signs and checks the listeners' own messages on a session table's channel (probes,
 * barriers, answers) with the cluster's session secrets (the first signs; any of them
 * opens, so a secret can be rotated), so that another role of the database, which may
 * NOTIFY on any channel, cannot pose as an instance, ask for answers, or answer for one. A
 * signed token is `body.mac`, the MAC over the body with the key of its domain.
 */
export class ChannelSigner {
  private readonly keys: Record<ChannelDomain, Buffer[]>;

  constructor(secrets: readonly string[]) {
    // A key per secret and domain, derived: a signature here is no cookie's signature, nor
    // another domain's, nor an earlier release's (which derived one key for every kind).
    const derive = (domain: ChannelDomain) =>
      secrets.map((s) =>
        createHmac('sha256', s).update(`bodhi-session-cache-listener\0${domain}`).digest(),
      );
    this.keys = Object.fromEntries(DOMAINS.map((d) => [d, derive(d)])) as Record<
      ChannelDomain,
      Buffer[]
    >;
  }

  /** `body`, signed as `domain` with the first secret. */
  sign(domain: ChannelDomain, body: string): string {
    return `${body}.${mac(this.keys[domain][0], body)}`;
  }

  /** The body of a token signed as `domain`, or undefined when no key of it signed it. */
  open(domain: ChannelDomain, token: string): string | undefined {
    const at = token.lastIndexOf('.');
    if (at < 0) return undefined;
    const body = token.slice(0, at);
    const given = Buffer.from(token.slice(at + 1));
    const ok = this.keys[domain].some((key) => {
      const expected = Buffer.from(mac(key, body));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    return ok ? body : undefined;
  }
}

function mac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('hex').slice(0, MAC_HEX);
}
