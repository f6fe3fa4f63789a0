import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as net from 'node:net';
import {
  createTestSessionDb,
  SESSION_BACKENDS,
  tempHome,
  TEST_SECRET,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  type TempHome,
} from '@bodhi/testing';
import {
  AppOptions,
  createAppOptions,
  resolveEnv,
  setAppSetting,
  setClientCredentials,
  setEnvVar,
  setSystemSetting,
} from './app-options.js';
import { BodhiServer } from './bodhi-server.js';
import {
  BODHI_AUTH_URL,
  BODHI_DEPLOYMENT,
  BODHI_HOME,
  BODHI_HOST,
  BODHI_PORT,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_SECRET,
} from './config.constants.js';

const homes: TempHome[] = [];
afterAll(() => homes.forEach((home) => home.remove()));

/**
 * Options for a server on `db` at `port` (default 0: a port the kernel picks), set the way an
 * embedder sets them (the setters are the API under test); the provider is never called by
 * these tests.
 */
function serverOptions(db: TestSessionDb | undefined, port = 0): AppOptions {
  const home = tempHome('bodhi-napi-');
  homes.push(home);
  const { issuer, clientId, clientSecret } = UNREACHABLE_PROVIDER;
  let o = createAppOptions();
  o = setSystemSetting(o, BODHI_HOME, home.dir);
  o = setSystemSetting(o, BODHI_AUTH_URL, issuer);
  o = setAppSetting(o, BODHI_HOST, '127.0.0.1');
  o = setAppSetting(o, BODHI_PORT, String(port));
  o = setClientCredentials(o, clientId, clientSecret);
  if (db) {
    o = setEnvVar(o, BODHI_SESSION_DB_URL, db.url);
    o = setEnvVar(o, BODHI_SESSION_DB_TABLE, db.table);
    if (db.schema) o = setEnvVar(o, BODHI_SESSION_DB_SCHEMA, db.schema);
  }
  return o;
}

/** The port a running server was given. */
const portOf = (server: BodhiServer) => Number(new URL(server.serverUrl()).port);

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

describe('app options', () => {
  it('layers process env < envVars < systemSettings < appSettings < client credentials', () => {
    let o = createAppOptions();
    o = setEnvVar(o, 'BODHI_PORT', '1');
    o = setSystemSetting(o, 'BODHI_PORT', '2');
    const before = o;
    o = setAppSetting(o, 'BODHI_PORT', '3');
    o = setClientCredentials(o, 'id', 'secret');
    const env = resolveEnv(o, { BODHI_PORT: '0', BODHI_HOME: '/from/env' });
    expect(env).toMatchObject({
      BODHI_PORT: '3',
      BODHI_HOME: '/from/env',
      BODHI_AUTH_CLIENT_ID: 'id',
      BODHI_AUTH_CLIENT_SECRET: 'secret',
    });
    expect(resolveEnv(before, {}).BODHI_PORT).toBe('2');
  });
});

describe.each(SESSION_BACKENDS)('BodhiServer on %s', (kind) => {
  let db: TestSessionDb;
  beforeAll(async () => {
    db = await createTestSessionDb(kind);
  });
  afterAll(() => db?.drop());

  it('starts, answers ping, stops releasing the port, and stops twice harmlessly', async () => {
    const server = new BodhiServer(serverOptions(db), { logger: false });
    expect(server.isRunning()).toBe(false);
    expect(await server.ping()).toBe(false);
    await server.start();
    // Asked for port 0, it reports the port it was given (its public URL).
    const port = portOf(server);
    try {
      expect(server.isRunning()).toBe(true);
      expect(port).toBeGreaterThan(0);
      expect(server.serverUrl()).toBe(`http://127.0.0.1:${port}`);
      expect(await server.ping()).toBe(true);
      const user = await (await fetch(`${server.serverUrl()}/bodhi/v1/user`)).json();
      expect(user).toEqual({ auth_status: 'logged_out' });
      const tables = await db.query(
        kind === 'sqlite'
          ? `SELECT name FROM sqlite_master WHERE name = $1`
          : `SELECT table_name FROM information_schema.tables WHERE table_schema = '${db.schema}' AND table_name = $1`,
        [db.table],
      );
      expect(tables).toHaveLength(1);
    } finally {
      await server.stop();
    }
    expect(server.isRunning()).toBe(false);
    expect(await portIsFree(port)).toBe(true);
    await expect(server.stop()).resolves.toBeUndefined();
    expect(() => server.serverUrl()).toThrow('not running');
  });

  it('start() while starting or running joins the one server; stop() then leaves nothing', async () => {
    const server = new BodhiServer(serverOptions(db), { logger: false });
    // Counts the applications built; the real factory still runs behind it.
    const create = jest.spyOn(NestFactory, 'create');
    let port = 0;
    try {
      await Promise.all([server.start(), server.start()]);
      await server.start();
      port = portOf(server);
      expect(await server.ping()).toBe(true);
      expect(await portIsFree(port)).toBe(false);
      // stop() waits for any start in flight, so the count after it is final.
      await server.stop();
      expect(create).toHaveBeenCalledTimes(1);
    } finally {
      create.mockRestore();
      await server.stop();
    }
    expect(server.isRunning()).toBe(false);
    expect(await portIsFree(port)).toBe(true);
  });
});

describe('BodhiServer instances side by side', () => {
  it('runs a SQLite server and a PostgreSQL server in one process, each with its own store', async () => {
    const [sqliteDb, pgDb] = await Promise.all([
      createTestSessionDb('sqlite'),
      createTestSessionDb('postgres'),
    ]);
    const a = new BodhiServer(serverOptions(sqliteDb), { logger: false });
    const b = new BodhiServer(serverOptions(pgDb), { logger: false });
    try {
      await Promise.all([a.start(), b.start()]);
      expect(a.serverUrl()).not.toBe(b.serverUrl());
      expect(await a.ping()).toBe(true);
      expect(await b.ping()).toBe(true);
      const health = async (s: BodhiServer) =>
        (await fetch(`${s.serverUrl()}/bodhi/v1/health`)).json();
      expect(await health(a)).toMatchObject({ info: { session_store: { backend: 'sqlite' } } });
      expect(await health(b)).toMatchObject({ info: { session_store: { backend: 'postgres' } } });
      await a.stop();
      expect(await b.ping()).toBe(true);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await Promise.all([sqliteDb.drop(), pgDb.drop()]);
    }
  });
});

describe('BodhiServer with bad configuration', () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  const expectRejected = async (options: AppOptions, message: RegExp) => {
    const server = new BodhiServer(options, { logger: false });
    await expect(server.start()).rejects.toThrow(message);
    expect(server.isRunning()).toBe(false);
    expect(await server.ping()).toBe(false);
  };

  it('rejects an unknown URL scheme naming the variable, password hidden', async () => {
    const options = setEnvVar(
      serverOptions(undefined),
      BODHI_SESSION_DB_URL,
      'mysql://u:hunter22@db/x',
    );
    await expectRejected(options, /BODHI_SESSION_DB_URL must start with/);
    await expect(new BodhiServer(options, { logger: false }).start()).rejects.not.toThrow(
      /hunter22/,
    );
  });

  it('rejects cluster mode on SQLite', async () => {
    let options = setSystemSetting(serverOptions(undefined), BODHI_DEPLOYMENT, 'cluster');
    options = setSystemSetting(options, BODHI_SESSION_SECRET, TEST_SECRET);
    await expectRejected(
      options,
      /BODHI_SESSION_DB_URL must be a postgres:\/\/ URL when BODHI_DEPLOYMENT=cluster/,
    );
  });

  it('rejects a port in use and leaves the port holder alone', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      await expectRejected(
        serverOptions(undefined, port),
        new RegExp(`127\\.0\\.0\\.1:${port} is taken by another program: set BODHI_PORT`),
      );
      expect(holder.listening).toBe(true);
    } finally {
      holder.close();
    }
  });

  it('a failed start leaves the server startable: the retry, once the port is free, runs', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    const server = new BodhiServer(serverOptions(undefined, port), { logger: false });
    try {
      await expect(Promise.all([server.start(), server.start()])).rejects.toThrow(/is taken/);
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      await server.start();
      expect(await server.ping()).toBe(true);
    } finally {
      await server.stop();
      if (holder.listening) holder.close();
    }
    expect(await portIsFree(port)).toBe(true);
  });
});
