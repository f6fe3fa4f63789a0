import {
  type ChannelMessage,
  channelPayload,
  invalidationChannel,
  parseChannelMessage,
} from './channel-messages.js';

/**
 * The payloads are a wire format: PostgreSQL's triggers write the changes' (in SQL), and
 * every release of the server parses every other's. Only the parsed shape may change.
 */
describe('channel messages', () => {
  const key = 'a'.repeat(64);
  const wire: [string, ChannelMessage][] = [
    [`s:${key}`, { kind: 'change', change: { kind: 'session', key } }],
    [`u:${key}`, { kind: 'change', change: { kind: 'user', userKey: key } }],
    ['*', { kind: 'change', change: { kind: 'all' } }],
    ['p:i:1:1.mac', { kind: 'probe', token: 'i:1:1.mac' }],
    ['b:token', { kind: 'barrier', token: 'token' }],
    ['k:token:i.mac', { kind: 'ack', token: 'token:i.mac' }],
  ];

  it.each(wire)('%s is the payload of its message, and parses back to it', (payload, message) => {
    expect(channelPayload(message)).toBe(payload);
    expect(parseChannelMessage(payload)).toEqual(message);
  });

  it.each(['', 'x', 'S:abc', 'hello world', '{"kind":"session"}'])(
    'an unknown payload (%j) is a change of everything',
    (payload) => {
      expect(parseChannelMessage(payload)).toEqual({ kind: 'change', change: { kind: 'all' } });
    },
  );

  it('names a table by its schema and name, in an identifier PostgreSQL keeps whole', () => {
    const channel = invalidationChannel('public', 'sessions');
    expect(channel).toMatch(/^bodhi_session_[0-9a-f]{20}$/);
    expect(invalidationChannel('other', 'sessions')).not.toBe(channel);
  });
});
