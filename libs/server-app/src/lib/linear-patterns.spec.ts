/**
 * Every pattern this library applies to what a client sends (log lines and the request fields they carry, request ids, paths, Host headers) runs in linear time, by
 * recheck's verdict, and each module's list holds every regular expression its source writes
 * (#28): a pattern added to one of these modules without its list fails here.
 */
import { redosVerdict, unlistedPatterns } from '@bodhi/testing';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_PATTERNS } from './allowed-host.middleware.js';
import { LOG_REDACTION_PATTERNS } from './logging.redact.js';
import { REQUEST_LOG_PATTERNS } from './logging.request.js';
import { METRICS_REQUEST_PATTERNS } from './metrics.endpoint.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const MODULES: [string, readonly RegExp[]][] = [
  ['logging.redact.ts', LOG_REDACTION_PATTERNS],
  ['logging.request.ts', REQUEST_LOG_PATTERNS],
  ['allowed-host.middleware.ts', HOST_PATTERNS],
  ['metrics.endpoint.ts', METRICS_REQUEST_PATTERNS],
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
