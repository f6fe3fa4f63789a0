import type { SettingService } from '@bodhi/services';
import type { Request } from 'express';
import { ApiError } from './api-error.js';
import { SameOriginMiddleware } from './same-origin.middleware.js';

const settings = { publicUrl: () => 'https://bodhi.example' } as unknown as SettingService;
const COOKIE = 'bodhiapp_session_id=s%3Aabc.sig';

function verdict(method: string, headers: Record<string, string>): unknown {
  const req = { method, headers, protocol: 'http' } as unknown as Request;
  let result: unknown = 'not called';
  new SameOriginMiddleware(settings).use(req, {} as never, (err?: unknown) => (result = err));
  return result;
}

describe('SameOriginMiddleware', () => {
  it.each([
    ['GET from anywhere', 'GET', { cookie: COOKIE, 'sec-fetch-site': 'cross-site' }],
    [
      'POST same-origin by fetch metadata',
      'POST',
      { cookie: COOKIE, 'sec-fetch-site': 'same-origin' },
    ],
    ['POST typed by the user', 'POST', { cookie: COOKIE, 'sec-fetch-site': 'none' }],
    ['POST with the public origin', 'POST', { cookie: COOKIE, origin: 'https://bodhi.example' }],
    [
      'POST with the host origin',
      'POST',
      { cookie: COOKIE, origin: 'http://127.0.0.1:1135', host: '127.0.0.1:1135' },
    ],
    ['POST from a non-browser client', 'POST', { cookie: COOKIE }],
  ])('lets through %s', (_name, method, headers) => {
    expect(verdict(method, headers)).toBeUndefined();
  });

  it.each([
    ['cross-site fetch metadata', { cookie: COOKIE, 'sec-fetch-site': 'cross-site' }],
    ['same-site (another subdomain)', { cookie: COOKIE, 'sec-fetch-site': 'same-site' }],
    ['a foreign Origin', { cookie: COOKIE, origin: 'https://evil.example' }],
    // SameSite=Strict keeps the cookie back from a cross-site form: refused all the same.
    ['cross-site fetch metadata and no cookie', { 'sec-fetch-site': 'cross-site' }],
    ['a foreign Origin and no cookie', { origin: 'https://evil.example' }],
    // Not found by the cookie's name: a cookie spelled to slip past a substring search.
    [
      'a spaced cookie name',
      { cookie: 'bodhiapp_session_id =s%3Aabc.sig', origin: 'https://evil.example' },
    ],
  ])('refuses a state-changing request with %s', (_name, headers) => {
    const err = verdict('PUT', headers);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).getStatus()).toBe(403);
  });
});
