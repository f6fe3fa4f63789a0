import { editedVariants } from '@bodhi/testing';
import {
  REDACTED,
  redactJwts,
  redactSecrets,
  redactUrlPasswords,
  urlPassword,
} from './redact.util.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNlY3JldA';

/** The expressions the scans replaced (#28): right, but quadratic on long input. */
const OLD_URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s]*)@/gi;
const OLD_JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g;

/** Where `actual` first differs from `expected`, with some context; undefined when equal. */
function difference(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `at ${i}: ${JSON.stringify(actual.slice(i - 20, i + 40))} ≠ ${JSON.stringify(expected.slice(i - 20, i + 40))}`;
}

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
    // A scheme may start at any letter of the word before `://`.
    ['1x+2.y-3://u:p@h', '1x+2.y-3://u:***@h'],
    ['123://u:p@h', '123://u:p@h'],
    // An unencoded `/` in the password: free text takes it up to the `@`.
    ['postgres://u:pa/ss@h/d', 'postgres://u:***@h/d'],
  ])('%s', (input, expected) => {
    expect(redactUrlPasswords(input)).toBe(expected);
  });

  it('redacts the passwords of hostile text the old expression took quadratic time on', () => {
    const long = 'a'.repeat(15_600);
    const colons = '://a:'.repeat(5000);
    const eyJ = `/${'eyJ'.repeat(5200)}`;
    for (const [input, expected] of [
      [`/${long}@://`, `/${long}@://`],
      [`${long}://u:secret@h`, `${long}://u:${REDACTED}@h`],
      [`x${colons}`, `x${colons}`],
      [`x${colons}secret@h`, `x://a:${REDACTED}@h`],
      [`${eyJ}@://`, `${eyJ}@://`],
      [`${eyJ} postgres://u:secret@h @://`, `${eyJ} postgres://u:${REDACTED}@h @://`],
    ])
      expect(difference(redactUrlPasswords(input), expected)).toBeUndefined();
  });

  it('redacts what the old expression redacted, and nothing else (5,000 varied texts)', () => {
    const templates = ['pg://u:pw@h/d', '1a+b.c-://:@', 'x://u:p:q@h', '://u:p@'];
    const alphabet = ['a', 'Z', '1', '+', '.', '-', ':', '/', '@', '?', '#', ' ', '"', '\\'];
    for (const text of editedVariants(28, templates, alphabet, 5000)) {
      expect({ text, out: redactUrlPasswords(text) }).toEqual({
        text,
        out: text.replace(OLD_URL_PASSWORD, `$1${REDACTED}@`),
      });
    }
  });
});

describe('redactJwts', () => {
  it('replaces every JWT, and leaves what only looks like a part of one', () => {
    expect(redactJwts(`bearer ${JWT} and "${JWT}"`)).toBe(`bearer *** and "***"`);
    expect(redactJwts(`token=x${JWT}.more`)).toBe('token=x***.more');
    for (const text of ['eyJ.a.b', 'eyJa..b', 'eyJa.b.', 'eyJa.b', 'no token'])
      expect(redactJwts(text)).toBe(text);
  });

  it('redacts hostile text the old expression took quadratic time on', () => {
    const run = 'eyJ'.repeat(5200);
    for (const [input, expected] of [
      [`/${run}@://`, `/${run}@://`],
      [`/${run}.${run}.${run}`, `/${REDACTED}`],
      [`/${run}.${run} ${JWT}`, `/${run}.${run} ${REDACTED}`],
      [`/${run}@://${JWT}`, `/${run}@://${REDACTED}`],
      // Parts of one dot-separated run: each three make a JWT.
      ['eyJa.'.repeat(5000), `${`${REDACTED}.`.repeat(1666)}eyJa.eyJa.`],
    ])
      expect(difference(redactJwts(input), expected)).toBeUndefined();
  });

  it('redacts what the old expression redacted, and nothing else (5,000 varied texts)', () => {
    const templates = ['eyJa.b.c', 'eyJhb.eyJz.sig-_', 'xeyJeyJ.a.b'];
    const alphabet = ['eyJ', 'e', 'y', 'J', 'a', '_', '-', '.', ' ', '"', '/'];
    for (const text of editedVariants(16, templates, alphabet, 5000)) {
      expect({ text, out: redactJwts(text) }).toEqual({
        text,
        out: text.replace(OLD_JWT, REDACTED),
      });
    }
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
