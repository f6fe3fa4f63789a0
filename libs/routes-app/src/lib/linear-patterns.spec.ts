/**
 * Every pattern this library applies to what a client sends (a session handle in a path, a login callback's error code) runs in linear time, by
 * recheck's verdict, and each module's list holds every regular expression its source writes
 * (#28): a pattern added to one of these modules without its list fails here.
 */
import { redosVerdict, unlistedPatterns } from '@bodhi/testing';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROVIDER_ERROR_PATTERNS } from './provider-errors.js';
import { SESSION_HANDLE_PATTERNS } from './sessions.controller.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const MODULES: [string, readonly RegExp[]][] = [
  ['sessions.controller.ts', SESSION_HANDLE_PATTERNS],
  ['provider-errors.ts', PROVIDER_ERROR_PATTERNS],
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
