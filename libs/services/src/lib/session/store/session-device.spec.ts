import { describe, expect, it } from '@jest/globals';
import {
  boundedUserAgent,
  describeDevice,
  keptClientAddress,
  MAX_USER_AGENT_LENGTH,
} from './session-device.js';

const FIREFOX_LINUX =
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('session device', () => {
  it('names the browser and OS of a user agent', () => {
    expect(describeDevice(FIREFOX_LINUX)).toEqual({ browser: 'Firefox 133', os: 'Ubuntu' });
    expect(describeDevice(SAFARI_IPHONE)).toEqual({ browser: 'Mobile Safari 17', os: 'iOS 17.5' });
  });

  it('names nothing for a missing or unknown user agent', () => {
    expect(describeDevice(undefined)).toEqual({});
    expect(describeDevice('curl/8.5.0')).toEqual({ browser: undefined, os: undefined });
  });

  it('keeps at most 512 characters of a user agent, and none of a blank one', () => {
    expect(boundedUserAgent('x'.repeat(5000))).toHaveLength(MAX_USER_AGENT_LENGTH);
    expect(boundedUserAgent('  ')).toBeUndefined();
    expect(boundedUserAgent(undefined)).toBeUndefined();
  });

  it('replaces control characters of a user agent (a C1 CSI would drive an admin terminal)', () => {
    expect(boundedUserAgent('Evil\u009b31mRed\u001b[0m\u0007/1.0')).toBe('Evil?31mRed?[0m?/1.0');
  });

  it('keeps an address whole, truncated to its /24 or /48, or not at all', () => {
    expect(keptClientAddress('203.0.113.77', 'full')).toBe('203.0.113.77');
    expect(keptClientAddress('203.0.113.77', 'truncated')).toBe('203.0.113.0/24');
    expect(keptClientAddress('2001:db8:abcd:12::1', 'truncated')).toBe('2001:db8:abcd::/48');
    expect(keptClientAddress('2001:db8:abcd:12::1', 'full')).toBe('2001:db8:abcd:12::1');
    expect(keptClientAddress('203.0.113.77', 'none')).toBeUndefined();
  });

  it('keeps an IPv4 address a dual-stack socket reports as IPv6 as IPv4', () => {
    expect(keptClientAddress('::ffff:198.51.100.9', 'full')).toBe('198.51.100.9');
    expect(keptClientAddress('::ffff:198.51.100.9', 'truncated')).toBe('198.51.100.0/24');
  });

  it('keeps nothing of an address that does not parse', () => {
    expect(keptClientAddress('not-an-ip', 'full')).toBeUndefined();
    expect(keptClientAddress(undefined, 'full')).toBeUndefined();
  });
});
