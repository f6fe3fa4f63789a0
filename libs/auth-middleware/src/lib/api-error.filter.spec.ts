import { jest } from '@jest/globals';
import { ArgumentsHost, Logger, NotFoundException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import {
  InvalidSessionInputError,
  SessionLockTimeoutError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
} from '@bodhi/services';
import { ApiError } from './api-error.js';
import { ApiErrorFilter } from './api-error.filter.js';

function answer(exception: unknown): { status: number; body: unknown } {
  const out = { status: 0, body: undefined as unknown };
  const res = {
    headersSent: false,
    status(code: number) {
      out.status = code;
      return this;
    },
    json(body: unknown) {
      out.body = body;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost;
  new ApiErrorFilter().catch(exception, host);
  return out;
}

describe('ApiErrorFilter', () => {
  beforeAll(() => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterAll(() => jest.restoreAllMocks());

  it.each([
    [
      new SessionStoreUnavailableError('down'),
      503,
      'service_unavailable',
      'session_store_unavailable',
    ],
    [new SessionLockTimeoutError(100), 503, 'service_unavailable', 'session_store_unavailable'],
    [new SessionTooLargeError(99999, 65536), 413, 'invalid_request_error', 'session_too_large'],
    [new InvalidSessionInputError('no NUL'), 400, 'invalid_request_error', 'invalid_session_input'],
    [ApiError.forbidden('nope', 'No'), 403, 'forbidden_error', 'nope'],
    [new NotFoundException('Cannot GET /x'), 404, 'not_found_error', 'not_found'],
    [ApiError.conflict('taken', 'Taken'), 409, 'conflict_error', 'taken'],
    [new ThrottlerException(), 429, 'rate_limit_error', 'too_many_requests'],
  ])('%s → %i %s/%s', (exception, status, type, code) => {
    const out = answer(exception);
    expect(out.status).toBe(status);
    expect(out.body).toEqual({ error: { type, code, message: expect.any(String) } });
  });

  it('answers an unknown error with a bare 500 that reveals nothing of its cause', () => {
    const out = answer(new Error('password=hunter22 in postgres://u:hunter22@db'));
    expect(out.status).toBe(500);
    expect(JSON.stringify(out.body)).not.toContain('hunter22');
    expect(out.body).toEqual({
      error: {
        type: 'internal_server_error',
        code: 'internal_error',
        message: 'internal server error',
      },
    });
  });
});
