import { redactSecrets, redactUrlPasswords, urlPassword } from './redact.util.js';

describe('redactUrlPasswords', () => {
  it.each([
    ['postgres://bodhi:s3cr%40t@db:5432/x', 'postgres://bodhi:***@db:5432/x'],
    ['connect to postgresql://u:p@h/d failed', 'connect to postgresql://u:***@h/d failed'],
    [
      'two: postgres://a:b@h/d and mysql://c:d@h/e',
      'two: postgres://a:***@h/d and mysql://c:***@h/e',
    ],
    ['postgres://nopass@h/d', 'postgres://nopass@h/d'],
    ['sqlite:/tmp/x.sqlite', 'sqlite:/tmp/x.sqlite'],
  ])('%s', (input, expected) => {
    expect(redactUrlPasswords(input)).toBe(expected);
  });
});

describe('redactSecrets', () => {
  it('removes listed secrets wherever they appear and URL passwords', () => {
    const out = redactSecrets('secret=topsecretvalue at postgres://u:pw12@h/d', ['topsecretvalue']);
    expect(out).toBe('secret=*** at postgres://u:***@h/d');
  });
});

describe('urlPassword', () => {
  it('decodes the password and tolerates garbage', () => {
    expect(urlPassword('postgres://u:s3cr%40t@h/d')).toBe('s3cr@t');
    expect(urlPassword('postgres://u@h/d')).toBeUndefined();
    expect(urlPassword('not a url')).toBeUndefined();
  });
});
