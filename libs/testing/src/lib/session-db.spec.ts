import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_TEST_PG_URL, testPgBouncerUrl, testPgUrl } from './session-db.js';
import { WORKSPACE_ROOT } from './workspace.js';

describe('the test PostgreSQL URL', () => {
  it('is BODHI_TEST_PG_URL when set, else the default; an empty value counts as unset', () => {
    const url = 'postgres://u:p@localhost:54351/db';
    expect(testPgUrl({ BODHI_TEST_PG_URL: url })).toBe(url);
    expect(testPgUrl({})).toBe(DEFAULT_TEST_PG_URL);
    expect(testPgUrl({ BODHI_TEST_PG_URL: '' })).toBe(DEFAULT_TEST_PG_URL);
  });

  it('defaults to what scripts/test-deps.mjs starts', () => {
    // The script runs before any build, so it cannot import the kit and keeps its own literal.
    const script = fs.readFileSync(path.join(WORKSPACE_ROOT, 'scripts/test-deps.mjs'), 'utf8');
    const [, scriptDefault] = /^const DEFAULT_URL = '([^']+)';$/m.exec(script) ?? [];
    expect(scriptDefault).toBe(DEFAULT_TEST_PG_URL);
  });
});

describe('the test PgBouncer URL', () => {
  const pgUrl = 'postgres://u:p@localhost:54351/db';
  const bouncerUrl = 'postgres://u:p@localhost:54399/db';

  it('is BODHI_TEST_PGBOUNCER_URL when set, else the test PostgreSQL URL one port up', () => {
    expect(testPgBouncerUrl({ BODHI_TEST_PGBOUNCER_URL: bouncerUrl })).toBe(bouncerUrl);
    expect(testPgBouncerUrl({ BODHI_TEST_PG_URL: pgUrl })).toBe(
      'postgres://u:p@localhost:54352/db',
    );
    expect(testPgBouncerUrl({ BODHI_TEST_PGBOUNCER_URL: '' })).toBe(
      'postgres://bodhi_test:bodhi_test@localhost:54321/bodhi_sessions',
    );
  });

  it('is where scripts/test-deps.mjs starts PgBouncer, for the same settings', async () => {
    // `pgbouncer-status` names the URL it checks (password redacted); the kit's must match.
    const scriptUrl = async (vars: Record<string, string>) => {
      const env = { ...process.env, BODHI_TEST_PG_URL: '', BODHI_TEST_PGBOUNCER_URL: '', ...vars };
      const script = path.join(WORKSPACE_ROOT, 'scripts/test-deps.mjs');
      const result = await promisify(execFile)(process.execPath, [script, 'pgbouncer-status'], {
        env,
      }).catch((e: { stderr: string }) => e); // exit code 1: it does not answer there
      // "... answers at <url>", "... does NOT answer at <url>: <why>"
      return / answers? at (\S+?):?(?:\s|$)/.exec(result.stderr)?.[1];
    };
    const redacted = (url: string) => {
      const parsed = new URL(url);
      parsed.password = '***';
      return parsed.href;
    };
    const cases: Record<string, string>[] = [
      {},
      { BODHI_TEST_PG_URL: pgUrl },
      { BODHI_TEST_PG_URL: pgUrl, BODHI_TEST_PGBOUNCER_URL: bouncerUrl },
    ];
    for (const vars of cases) {
      expect(await scriptUrl(vars)).toBe(redacted(testPgBouncerUrl(vars)));
    }
  });
});
