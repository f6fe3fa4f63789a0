import { createHmac } from 'node:crypto';
import { type ChannelDomain, ChannelSigner } from './channel-signing.js';

const DOMAINS: ChannelDomain[] = ['probe', 'barrier', 'ack'];

describe('ChannelSigner', () => {
  const signer = new ChannelSigner(['secret-1']);

  it.each(DOMAINS)('a %s token opens as its own kind, to its body', (domain) => {
    const token = signer.sign(domain, 'body:1');
    expect(token).toMatch(/^body:1\.[0-9a-f]{32}$/);
    expect(signer.open(domain, token)).toBe('body:1');
  });

  it.each(DOMAINS.flatMap((from) => DOMAINS.filter((to) => to !== from).map((to) => [from, to])))(
    'a %s token never opens as %s (no reflection from one kind to another)',
    (from, to) => {
      expect(signer.open(to, signer.sign(from, 'same body'))).toBeUndefined();
    },
  );

  it('refuses a tampered body or signature, a token without one, and another cluster’s', () => {
    const token = signer.sign('probe', 'body');
    expect(signer.open('probe', `other${token.slice('body'.length)}`)).toBeUndefined();
    expect(signer.open('probe', `${token.slice(0, -1)}0`)).toBeUndefined();
    expect(signer.open('probe', 'body')).toBeUndefined();
    expect(new ChannelSigner(['another-secret']).open('probe', token)).toBeUndefined();
  });

  it('opens what any of the secrets signed, and signs with the first (rotation)', () => {
    const rotated = new ChannelSigner(['secret-2', 'secret-1']);
    expect(rotated.open('ack', signer.sign('ack', 'b'))).toBe('b');
    expect(signer.open('ack', rotated.sign('ack', 'b'))).toBeUndefined();
  });

  it('refuses what an earlier release signed (one key for every kind): it cannot pose as a probe', () => {
    const key = createHmac('sha256', 'secret-1').update('bodhi-session-cache-listener').digest();
    const body = 'EVIL:0:1:instance';
    const earlier = `${body}.${createHmac('sha256', key).update(body).digest('hex').slice(0, 32)}`;
    for (const domain of DOMAINS) expect(signer.open(domain, earlier)).toBeUndefined();
  });
});
