import { REDACTED } from '@bodhi/services';
import { editedVariants } from '@bodhi/testing';
import { Writable } from 'node:stream';
import { createLogger } from './logging.js';
import { capped, MAX_LOGGED_FIELD, redactLine } from './logging.redact.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNlY3JldA';
const PASSWORD = 'Zq9Xw7Vv';
const DB_URL = `postgres://u:${PASSWORD}@h/db`;

/** The expressions the scans replaced (#28): right, but quadratic on long lines. */
const OLD_URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"\\]*:)[^@/?#\s"\\]*@/gi;
const OLD_JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g;
const oldRedactLine = (line: string) =>
  line.replace(OLD_URL_PASSWORD, `$1${REDACTED}@`).replace(OLD_JWT, REDACTED);

/** The hostile paths of #28 (each about 15.6 KB, a plain 404). */
const EYJ_PATH = `/${'eyJ'.repeat(5200)}@://`;
const A_PATH = `/${'a'.repeat(15_600)}@://`;

/** Where `actual` first differs from `expected`, with some context; undefined when equal. */
function difference(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `at ${i}: ${JSON.stringify(actual.slice(i - 20, i + 40))} ≠ ${JSON.stringify(expected.slice(i - 20, i + 40))}`;
}

/** The pieces of `secret` (every 4 characters in a row) found in `text`: none may leak. */
const piecesIn = (text: string, secret: string) =>
  Array.from({ length: secret.length - 3 }, (_, i) => secret.slice(i, i + 4)).filter((piece) =>
    text.includes(piece),
  );

/** The `req.url` a JSON logger writes for `url` logged as the request serializer logs it. */
function loggedUrl(url: string): string {
  let text = '';
  const out = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
  createLogger({ level: 'warn', format: 'json' }, out).warn({ req: { url: capped(url) } });
  return (JSON.parse(text) as { req: { url: string } }).req.url;
}

describe('redactLine', () => {
  it('redacts what the old expressions redacted, and nothing else (5,000 varied lines)', () => {
    const templates = ['{"msg":"pg://u:pw@h/d"}', '"x://u:p:q@h"', JWT, 'eyJa.b.c', '1a+b://:@'];
    const alphabet = ['a', '1', '+', ':', '/', '@', '?', '#', ' ', '"', '\\', 'eyJ', '.', '-'];
    for (const line of editedVariants(3, templates, alphabet, 5000)) {
      expect({ line, out: redactLine(line) }).toEqual({ line, out: oldRedactLine(line) });
    }
  });

  it('redacts the hostile lines of #28, uncut (the old expressions took seconds on each)', () => {
    for (const path of [EYJ_PATH, A_PATH]) {
      const run = path.slice(1, -4);
      const requestLine = `{"level":40,"req":{"method":"GET","url":"${path}"},"res":{"statusCode":404}}`;
      for (const [line, expected] of [
        [requestLine, requestLine],
        [
          `{"url":"${path}","err":"${DB_URL} ${JWT}"}`,
          `{"url":"${path}","err":"postgres://u:${REDACTED}@h/db ${REDACTED}"}`,
        ],
        [
          `{"url":"${path}${DB_URL}","token":"${path}${JWT}"}`,
          `{"url":"${path}postgres://u:${REDACTED}@h/db","token":"${path}${REDACTED}"}`,
        ],
        [
          `{"x":"/${run}.${run}.${run}"}`,
          path === EYJ_PATH ? `{"x":"/${REDACTED}"}` : `{"x":"/${run}.${run}.${run}"}`,
        ],
      ]) {
        const out = redactLine(line);
        expect(difference(out, expected)).toBeUndefined();
        expect(piecesIn(out, PASSWORD)).toEqual([]);
      }
    }
  });
});

describe('capped', () => {
  it('keeps a field up to the limit, and cuts a longer one with a marker of its length', () => {
    expect(capped('/bodhi/v1/user')).toBe('/bodhi/v1/user');
    const limit = 'a'.repeat(MAX_LOGGED_FIELD);
    expect(capped(limit)).toBe(limit);
    expect(capped(`${limit}b`)).toBe(`${limit}…(${MAX_LOGGED_FIELD + 1} chars)`);
    expect(capped('/abc/defgh', 8)).toBe('/abc/def…(10 chars)');
    // Never between the halves of a surrogate pair.
    expect(capped('/ab😀', 4)).toBe('/ab…(5 chars)');
  });

  it('cuts the hostile paths of #28 to the limit: a×15600 readable, eyJ×5200 as a JWT start', () => {
    expect(loggedUrl(A_PATH)).toBe(`/${'a'.repeat(MAX_LOGGED_FIELD - 1)}…(15605 chars)`);
    expect(loggedUrl(EYJ_PATH)).toBe(`/${REDACTED}…(15605 chars)`);
  });

  it('leaks no piece of a password or JWT, wherever the cut falls in it', () => {
    for (const [secret, shown] of [
      [DB_URL, PASSWORD],
      [JWT, JWT],
    ]) {
      // The secret before the cut, across it at every character, and after it.
      for (let at = -secret.length - 8; at <= 8; at++) {
        const before = `/x/${'a'.repeat(MAX_LOGGED_FIELD + at - 3)}`;
        for (const path of [
          `${before}${secret}`,
          `${before}${secret}/rest`,
          `${before}${secret}?`,
        ]) {
          const url = loggedUrl(path);
          expect({ at, path: path.slice(-80), pieces: piecesIn(url, shown) }).toEqual({
            at,
            path: path.slice(-80),
            pieces: [],
          });
          expect(url.length).toBeLessThanOrEqual(
            MAX_LOGGED_FIELD + `${REDACTED}…(99999 chars)`.length,
          );
        }
      }
    }
  });

  it('a URL password or JWT wholly before the cut is redacted as in any line', () => {
    const path = `/x/${DB_URL}/${JWT}/${'a'.repeat(MAX_LOGGED_FIELD)}`;
    expect(loggedUrl(path)).toBe(
      `/x/postgres://u:${REDACTED}@h/db/${REDACTED}/${'a'.repeat(MAX_LOGGED_FIELD - DB_URL.length - JWT.length - 5)}…(${path.length} chars)`,
    );
  });
});
