import { createHmac, timingSafeEqual } from 'node:crypto';

/** Hex digits of a signature (128 bits). */
const MAC_HEX = 32;

/**
 * Signs and checks the listeners' own messages on a session table's channel (probes,
 * answers) with the cluster's session secrets (the first signs; any of them opens, so a
 * secret can be rotated), so that another role of the database, which may NOTIFY on any
 * channel, cannot pose as a serving instance (every ending would wait for it) or answer
 * for one. A signed token is `body.mac`.
 */
export class ChannelSigner {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[]) {
    // Its own key, derived from each secret: a signature here is no cookie's signature.
    this.keys = secrets.map((s) =>
      createHmac('sha256', s).update('bodhi-session-cache-listener').digest(),
    );
  }

  /** `body`, signed with the first secret. */
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
