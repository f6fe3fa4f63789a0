/**
 * Every pattern this library applies to what a client sends (a bearer token's header, and any text the redaction of messages and log lines is given) runs in linear time, by
 * recheck's verdict, and each module's list holds every regular expression its source writes
 * (#28): a pattern added to one of these modules without its list fails here.
 */
import { redosVerdict, unlistedPatterns } from '@bodhi/testing';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKEN_PATTERNS } from './auth/auth.service.js';
import { REDACTION_PATTERNS } from './util/redact.util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const MODULES: [string, readonly RegExp[]][] = [
  ['util/redact.util.ts', REDACTION_PATTERNS],
  ['auth/auth.service.ts', TOKEN_PATTERNS],
];

describe.each(MODULES)('%s', (file, patterns) => {
  it('lists every regular expression it writes', async () => {
    expect(await unlistedPatterns(path.join(HERE, file), patterns)).toEqual([]);
  });

  it.each(patterns.map((p) => [String(p), p]))(
    '%s runs in linear time',
    async (_, pattern) => {
      expect(await redosVerdict(pattern)).toEqual({ pattern: String(pattern), status: 'safe' });
    },
    120_000,
  );
});
