/**
 * Contenders that cannot be root devDependencies live in bench/deps (own package.json and
 * lockfile, installed on first use):
 *  - connect-typeorm 2.0.0 declares `peer typeorm@^0.3.0`; the project is on TypeORM 1.x, so
 *    a root install fails with ERESOLVE (and `--legacy-peer-deps` at the root would make
 *    every later `npm install`/`npm ci` fail the same way). It works on TypeORM 1.x at
 *    runtime; bench/deps/.npmrc sets legacy-peer-deps, and it resolves the root `typeorm`.
 *  - sqlite3 (the driver TypeORM 1.x dropped) builds from source: not for every install.
 */
import type { EventEmitter } from 'node:events';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { SessionData } from 'express-session';
import type { Repository } from 'typeorm';
import { BENCH_ROOT } from './config.js';
import { progress } from './util.js';

const DEPS_DIR = path.join(BENCH_ROOT, 'deps');
const STAMP = path.join(DEPS_DIR, 'node_modules', '.bench-deps-lock');

type Cb<T = unknown> = (err?: unknown, value?: T) => void;

/** connect-typeorm's TypeormStore, as far as the bench uses it. */
export interface TypeormStoreInstance {
  get(sid: string, cb: Cb<SessionData | null>): void;
  set(sid: string, session: SessionData, cb?: Cb): void;
  touch(sid: string, session: SessionData, cb?: Cb): void;
  destroy(sid: string, cb?: Cb): void;
  connect(repository: Repository<CtSessionRow>): TypeormStoreInstance;
}
export interface CtSessionRow {
  id: string;
  expiredAt: number;
  json: string;
  destroyedAt?: Date;
}
export interface ConnectTypeorm {
  TypeormStore: new (options?: { cleanupLimit?: number; ttl?: number }) => TypeormStoreInstance;
}

/** The callback API of node-sqlite3 the driver comparison uses. */
export interface Sqlite3Statement {
  run(...args: unknown[]): Sqlite3Statement;
  get(...args: unknown[]): Sqlite3Statement;
  finalize(cb?: () => void): void;
}
export interface Sqlite3Database extends EventEmitter {
  exec(sql: string, cb: (err: Error | null) => void): void;
  prepare(sql: string): Sqlite3Statement;
  close(cb: (err: Error | null) => void): void;
}
export interface Sqlite3 {
  Database: new (file: string) => Sqlite3Database;
}

/** Installs bench/deps from its lockfile when missing or out of date. */
export function ensureBenchDeps(): void {
  const lock = fs.readFileSync(path.join(DEPS_DIR, 'package-lock.json'), 'utf8');
  if (fs.existsSync(STAMP) && fs.readFileSync(STAMP, 'utf8') === lock) return;
  progress(
    'installing bench/deps (connect-typeorm, sqlite3 built from source: a few minutes, once)…',
  );
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: DEPS_DIR,
    // Skip prebuild-install's download attempt (GitHub), build sqlite3 from source directly.
    env: { ...process.env, npm_config_build_from_source: 'true' },
    stdio: ['ignore', process.stderr, process.stderr],
  });
  fs.writeFileSync(STAMP, lock);
}

const requireDep = createRequire(path.join(DEPS_DIR, 'package.json'));

export const loadConnectTypeorm = () => requireDep('connect-typeorm') as ConnectTypeorm;
export const loadSqlite3 = () => requireDep('sqlite3') as Sqlite3;
