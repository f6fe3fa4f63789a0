import { jest } from '@jest/globals';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter } from '@bodhi/auth-middleware';
import { BodhiMetrics } from '@bodhi/services';
import {
  createTestSessionDb,
  parseExposition,
  serverEnv,
  tempHome,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  type TempHome,
} from '@bodhi/testing';
import request from 'supertest';
import { RoutesAppModule } from './routes-app.module.js';

const WINDOW_SECONDS = 60;

describe('the auth rate limit', () => {
  let db: TestSessionDb;
  let home: TempHome;
  let app: INestApplication;
  let now: number;

  beforeAll(async () => {
    db = await createTestSessionDb('sqlite');
    home = tempHome('bodhi-rate-limit-');
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppServicesModule.forRoot({
          env: serverEnv({
            home: home.dir,
            db,
            provider: UNREACHABLE_PROVIDER,
            authRateLimit: 2,
            env: { BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS) },
          }),
        }),
        RoutesAppModule,
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiErrorFilter());
    await app.init();
  });
  beforeEach(() => {
    // The limiter's clock, moved by the test: its window ends without waiting for it.
    now = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    home?.remove();
  });

  /** bodhi_logins_total{outcome="failure"} (of `reason`, when given), as a scrape reads it. */
  const loginFailures = async (reason?: string) =>
    parseExposition((await app.get(BodhiMetrics).exposition()).body).sum('bodhi_logins_total', {
      outcome: 'failure',
      ...(reason && { reason }),
    });

  const logout = () => request(app.getHttpServer()).post('/bodhi/v1/logout');

  it('refuses past the limit until the window has passed, then admits again', async () => {
    await logout().expect(200);
    await logout().expect(200);
    const refused = await logout().expect(429);
    expect(refused.headers['retry-after']).toBe(String(WINDOW_SECONDS));
    expect(refused.body.error).toMatchObject({ code: 'too_many_requests' });
    // Only the login routes are limited.
    await request(app.getHttpServer()).get('/bodhi/v1/ping').expect(200);

    now += (WINDOW_SECONDS - 1) * 1000;
    const later = await logout().expect(429);
    expect(later.headers['retry-after']).toBe('1');

    now += 1000;
    await logout().expect(200);
    // Logout is no login: its refusals are not failed logins.
    expect(await loginFailures()).toBe(0);
  });

  it('a login refused by the limit counts as a rate_limited login failure', async () => {
    now += WINDOW_SECONDS * 1000;
    const initiate = () => request(app.getHttpServer()).post('/bodhi/v1/auth/initiate');
    // Admitted, and failing as the provider is unreachable.
    await initiate().expect(503);
    await initiate().expect(503);
    await initiate().expect(429);
    expect(await loginFailures('provider_unavailable')).toBe(2);
    expect(await loginFailures('rate_limited')).toBe(1);
    expect(await loginFailures()).toBe(3);
  });
});
