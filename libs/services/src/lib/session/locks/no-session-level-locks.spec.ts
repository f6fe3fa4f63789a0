import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WORKSPACE_ROOT } from '@bodhi/testing';

/**
 * A session-level advisory lock belongs to the server connection that took it. Behind a
 * transaction pooler (PgBouncer, pool_mode = transaction) that connection is whichever one
 * the pooler picked for that statement: another instance "gets" the lock too, the unlock
 * lands elsewhere, and the lock leaks until the pooler closes the connection (issue #15).
 * Every lock is transaction-scoped (transaction-lock.ts); this spec keeps it so.
 *
 * The pattern is assembled from pieces, so this file does not match it itself.
 */
const SESSION_LEVEL_ADVISORY = new RegExp(
  ['\\bpg', '(?:try_)?advisory', '(?:lock|unlock)(?:_shared|_all)?\\b'].join('_'),
  // SQL is case-insensitive: the same call in capitals is still that call.
  'i',
);

/** Where the code is: every tracked file under these, specs and scripts included. */
const SCANNED = ['libs', 'apps', 'bench', 'scripts'];

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--', ...SCANNED], {
    cwd: WORKSPACE_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\0').filter(Boolean);
}

/** `file:line: text` of every line naming a session-level advisory function. */
function sessionLevelLockCalls(file: string, text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) =>
      SESSION_LEVEL_ADVISORY.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [],
    );
}

describe('no session-level advisory locks', () => {
  it('tells the session-level functions from the transaction-level ones', () => {
    const fn = (...parts: string[]) => ['pg', ...parts].join('_');
    for (const name of [
      fn('advisory', 'lock'),
      fn('advisory', 'lock', 'shared'),
      fn('try', 'advisory', 'lock'),
      fn('try', 'advisory', 'lock', 'shared'),
      fn('advisory', 'unlock'),
      fn('advisory', 'unlock', 'shared'),
      fn('advisory', 'unlock', 'all'),
    ]) {
      expect(sessionLevelLockCalls('f', `SELECT ${name}(hashtext($1))`)).toHaveLength(1);
      // Built in code, as `${name}${args}`, it is still found.
      expect(sessionLevelLockCalls('f', `\`SELECT ${name}\${args}\``)).toHaveLength(1);
    }
    for (const name of [
      fn('advisory', 'xact', 'lock'),
      fn('advisory', 'xact', 'lock', 'shared'),
      fn('try', 'advisory', 'xact', 'lock'),
      fn('try', 'advisory', 'xact', 'lock', 'shared'),
    ]) {
      expect(sessionLevelLockCalls('f', `SELECT ${name}(hashtext($1))`)).toEqual([]);
    }
  });

  it('appears nowhere in the code: every lock is transaction-scoped', () => {
    const files = trackedFiles();
    // The listing works: the per-session lock's module is in it.
    expect(files).toContain('libs/services/src/lib/session/locks/session-lock.ts');
    const found = files.flatMap((file) => {
      const full = path.join(WORKSPACE_ROOT, file);
      // A tracked file someone has deleted in the work tree is not code any more.
      if (!fs.existsSync(full) || !fs.statSync(full).isFile()) return [];
      const text = fs.readFileSync(full, 'utf8');
      return text.includes('\0') ? [] : sessionLevelLockCalls(file, text);
    });
    expect(found).toEqual([]);
  });
});
