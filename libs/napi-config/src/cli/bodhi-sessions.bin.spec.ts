import { createTestSessionDb, openTestStore, sessionFixture, TestSessionDb } from '@bodhi/testing';
import { sessionKey } from '@bodhi/services';
import { Logger } from '@nestjs/common';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const WORKSPACE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const PROJECT_ROOT = path.join(WORKSPACE_ROOT, 'libs/napi-config');
const BIN = path.join(PROJECT_ROOT, 'bin/bodhi-sessions.js');
const CLI_SOURCE = path.join(PROJECT_ROOT, 'src/cli/bodhi-sessions.ts');
/** Where the module the bin imports is (its specifier is relative to the bin). */
const binImport = () => {
  const specifier = /await import\('([^']+)'\)/.exec(fs.readFileSync(BIN, 'utf8'))?.[1];
  if (!specifier) throw new Error(`${BIN} imports no module`);
  return path.resolve(path.dirname(BIN), specifier);
};

/** A path of project.json, `{projectRoot}` filled in. */
const projectPath = (p: string) =>
  path.join(WORKSPACE_ROOT, p.replace('{projectRoot}', 'libs/napi-config'));

describe('bin/bodhi-sessions.js and the build', () => {
  it('imports the module the build target emits for src/cli/bodhi-sessions.ts, in its outputs', () => {
    const project = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'project.json'), 'utf8'));
    const build = project.targets.build as { options: { command: string }; outputs: string[] };
    const tsconfig = /^tsc -p (\S+)$/.exec(build.options.command)?.[1];
    if (!tsconfig) throw new Error(`the build is no longer "tsc -p": ${build.options.command}`);
    const config = ts.getParsedCommandLineOfConfigFile(
      projectPath(tsconfig),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!config) throw new Error(`cannot read ${tsconfig}`);
    const emitted = ts
      .getOutputFileNames(config, CLI_SOURCE, false)
      .filter((f) => f.endsWith('.js'));
    expect(emitted).toEqual([binImport()]);
    // Nx restores only the declared outputs from its cache: the bin's module must be among them.
    const outputs = build.outputs.map(projectPath);
    expect(outputs.some((dir) => emitted[0].startsWith(`${dir}${path.sep}`))).toBe(true);
  });
});

/** The real launcher, as `npx bodhi-sessions` runs it: node on the bin, over the built library. */
describe('bin/bodhi-sessions.js', () => {
  let db: TestSessionDb;

  beforeAll(async () => {
    // Building is the test target's dependsOn; run on its own, this spec needs it done first.
    if (!fs.existsSync(binImport())) {
      throw new Error(
        `${path.relative(WORKSPACE_ROOT, binImport())} is missing: build the library first ` +
          '(NX_DAEMON=false npx nx run napi-config:build), or run "npx nx test napi-config", ' +
          'which builds it',
      );
    }
    Logger.overrideLogger(false);
    db = await createTestSessionDb('sqlite');
    const { store, dataSource } = await openTestStore(db);
    await store.saveSession('s1', sessionFixture(60_000, { user_id: 'alice' }));
    await store.saveSession('s2', sessionFixture(60_000));
    await dataSource.destroy();
  });
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

/**
 * Two processes upgrading one SQLite file at once, as two servers (or a server and the CLI)
 * booting on it do: the migrations run once, whoever wins, and the other finds them done.
 */
describe('two bodhi-sessions processes migrating one SQLite file at once', () => {
  let db: TestSessionDb;
  const ROWS = 50_000;

  beforeAll(async () => {
    db = await createTestSessionDb('sqlite');
    // A table an early release made (no migrations record), with raw session ids: every
    // migration is pending, and the re-key takes long enough for the two to overlap.
    const file = new Database(db.url.slice('sqlite:'.length));
    file.exec(
      `CREATE TABLE "${db.table}" (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
    );
    const insert = file.prepare(`INSERT INTO "${db.table}" VALUES (?, ?, ?)`);
    const expires = Date.now() + 3_600_000;
    file.transaction(() => {
      for (let i = 0; i < ROWS; i++) insert.run(`raw-${i}`, '{"cookie":{}}', expires);
    })();
    file.close();
  });
  afterAll(() => db?.drop());

  const migrate = () =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [BIN, 'migrate', '--url', db.url, '--table', db.table],
        { cwd: WORKSPACE_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => resolve({ code, err }));
    });

  it('records each migration once and re-keys every row once', async () => {
    const results = await Promise.all([migrate(), migrate()]);
    expect(results).toEqual([
      { code: 0, err: '' },
      { code: 0, err: '' },
    ]);
    const names = await db.query<{ name: string }>(
      `SELECT name FROM ${db.besideTable('migrations')}`,
    );
    expect(names.map((n) => n.name).sort()).toEqual([...new Set(names.map((n) => n.name))].sort());
    // Every migration of this release (v1–v7), each once.
    expect(names).toHaveLength(7);
    const [{ n }] = await db.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM "${db.table}" WHERE id = $1`,
      [sessionKey('raw-7')],
    );
    expect(n).toBe(1);
    const [{ raw }] = await db.query<{ raw: number }>(
      `SELECT COUNT(*) AS raw FROM "${db.table}" WHERE id LIKE 'raw-%'`,
    );
    expect(raw).toBe(0);
  }, 120_000);
});
