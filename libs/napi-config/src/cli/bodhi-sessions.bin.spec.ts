import {
  createTestSessionDb,
  openTestStore,
  sessionFixture,
  TestSessionDb,
} from '@bodhi/services/testing';
import { Logger } from '@nestjs/common';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKSPACE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const BIN = 'libs/napi-config/bin/bodhi-sessions.js';

/** The real launcher, as `npx bodhi-sessions` runs it: node on the bin, over the built library. */
describe('bin/bodhi-sessions.js', () => {
  let db: TestSessionDb;

  beforeAll(async () => {
    // The bin imports dist/: build it (and the libraries below it) the way the workspace does.
    try {
      execFileSync('npx', ['nx', 'run', 'napi-config:build', '--outputStyle=static'], {
        cwd: WORKSPACE_ROOT,
        env: { ...process.env, NX_DAEMON: 'false' },
        stdio: 'pipe',
        timeout: 170_000,
      });
    } catch (e) {
      const { stdout, stderr } = e as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`napi-config:build failed:\n${stdout ?? ''}${stderr ?? ''}`.slice(-4000));
    }
    Logger.overrideLogger(false);
    db = await createTestSessionDb('sqlite');
    const { store, dataSource } = await openTestStore(db);
    await store.saveSession('s1', sessionFixture(60_000, { user_id: 'alice' }));
    await store.saveSession('s2', sessionFixture(60_000));
    await dataSource.destroy();
  }, 180_000);
  afterAll(() => db?.drop());

  it('runs a command, prints its result and sets the exit status', () => {
    const bin = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args, '--url', db.url, '--table', db.table], {
        cwd: WORKSPACE_ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      });
    const count = bin('count', '--json');
    expect({ status: count.status, stdout: count.stdout, stderr: count.stderr }).toEqual({
      status: 0,
      stdout: '{"count":2}\n',
      stderr: '',
    });
    const refused = bin('clear-all');
    expect({ status: refused.status, stdout: refused.stdout }).toEqual({ status: 2, stdout: '' });
    expect(refused.stderr).toContain('add --yes');
  });
});
