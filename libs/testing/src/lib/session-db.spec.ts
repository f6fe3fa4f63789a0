import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_TEST_PG_URL, testPgUrl } from './session-db.js';
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
