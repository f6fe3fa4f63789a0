import { jest } from '@jest/globals';
import { INestApplication, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter } from '@bodhi/auth-middleware';
import { SESSION_DATA_SOURCE } from '@bodhi/services/testing';
import {
  createTestSessionDb,
  serverEnv,
  SESSION_BACKENDS,
  tempHome,
  TEST_PG_URL,
  UNREACHABLE_PROVIDER,
} from '@bodhi/testing';
import type { SessionDbKind } from '@bodhi/services';
import * as net from 'node:net';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { RoutesAppModule } from './routes-app.module.js';

/**
 * A TCP hop in front of the test PostgreSQL. Closing it is the database host going away:
 * open connections drop and new ones are refused, so the driver's errors name this host and
 * port — what /health must not show.
 */
async function tcpProxy(target: URL): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe.each(SESSION_BACKENDS)('GET /bodhi/v1/health on %s', (kind: SessionDbKind) => {
  it('answers a fixed message when the store is down, logging the driver detail instead', async () => {
    const db = await createTestSessionDb(kind);
    const home = tempHome('bodhi-health-');
    const proxy = kind === 'postgres' ? await tcpProxy(new URL(TEST_PG_URL)) : undefined;
    const url = new URL(db.url);
    if (proxy) url.host = `127.0.0.1:${proxy.port}`;
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppServicesModule.forRoot({
          env: serverEnv({
            home: home.dir,
            db: { url: proxy ? url.href : db.url, table: db.table, schema: db.schema },
            provider: UNREACHABLE_PROVIDER,
          }),
        }),
        RoutesAppModule,
      ],
    }).compile();
    const app: INestApplication = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiErrorFilter());
    await app.init();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const health = () => request(app.getHttpServer()).get('/bodhi/v1/health');
      expect((await health().expect(200)).body.info.session_store).toEqual({
        status: 'up',
        backend: kind,
      });

      // The store goes down for real: the database host goes away, or the SQLite handle closes.
      if (proxy) await proxy.close();
      else await app.get<DataSource>(SESSION_DATA_SOURCE).destroy();
      const down = { session_store: { status: 'down', message: 'session store unavailable' } };
      const res = await health().expect(503);
      expect(res.body).toEqual({ status: 'error', info: {}, error: down, details: down });

      const detail = proxy ? `ECONNREFUSED 127.0.0.1:${proxy.port}` : 'connection is not open';
      expect(JSON.stringify(res.body)).not.toContain(detail);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(detail));
    } finally {
      warn.mockRestore();
      await app.close();
      await db.drop();
      home.remove();
    }
  });
});
