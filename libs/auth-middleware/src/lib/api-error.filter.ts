import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import {
  InvalidSessionInputError,
  redactUrlPasswords,
  SessionLockTimeoutError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
} from '@bodhi/services';
import { ApiError, ApiErrorBody, ApiErrorType } from './api-error.js';

const TYPE_BY_STATUS: Record<number, ApiErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'forbidden_error',
  404: 'not_found_error',
  409: 'conflict_error',
  // A limiter's own exception (e.g. @nestjs/throttler's) lands here as 'too_many_requests'.
  429: 'rate_limit_error',
  503: 'service_unavailable',
};

/**
 * Longest error message an answer carries, in characters. Messages quote what a request
 * sent (a user id in a path, a provider's answer): an answer never grows with it.
 */
const MAX_ERROR_MESSAGE = 300;

/** `body` with its message cut to MAX_ERROR_MESSAGE, the cut marked. */
function bounded(body: ApiErrorBody): ApiErrorBody {
  const { message } = body.error;
  // Not every body with an `error` is ours: a health check's lists what is down, no message.
  if (typeof message !== 'string' || message.length <= MAX_ERROR_MESSAGE) return body;
  return { error: { ...body.error, message: `${message.slice(0, MAX_ERROR_MESSAGE)}…` } };
}

/**
 * Turns every exception into the one JSON error shape. Unknown errors become a 500 whose
 * body says nothing of the cause (it may hold secrets); the log gets the message only.
 */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const answered = this.fromSessionError(exception) ?? exception;
    const [status, body] = this.toBody(answered);
    if (res.headersSent) return;
    if (answered instanceof ApiError && answered.retryAfterSeconds !== undefined)
      res.setHeader('Retry-After', String(answered.retryAfterSeconds));
    res.status(status).json(bounded(body));
  }

  private toBody(exception: unknown): [number, ApiErrorBody] {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (
        typeof response === 'object' &&
        response &&
        'error' in response &&
        typeof response.error === 'object'
      ) {
        return [status, response as ApiErrorBody];
      }
      const message =
        typeof response === 'string'
          ? response
          : String((response as { message?: unknown }).message ?? exception.message);
      const type =
        TYPE_BY_STATUS[status] ??
        (status >= 500 ? 'internal_server_error' : 'invalid_request_error');
      return [
        status,
        { error: { message, type, code: HttpStatus[status]?.toLowerCase() ?? 'error' } },
      ];
    }
    this.logger.error(
      `Unhandled error: ${redactUrlPasswords(exception instanceof Error ? exception.message : String(exception))}`,
    );
    return [
      500,
      {
        error: {
          message: 'internal server error',
          type: 'internal_server_error',
          code: 'internal_error',
        },
      },
    ];
  }

  /** Session-store failures are the database's, not the request's: 503 (or 413 for size). */
  private fromSessionError(exception: unknown): ApiError | undefined {
    if (
      exception instanceof SessionStoreUnavailableError ||
      exception instanceof SessionLockTimeoutError
    ) {
      this.logger.warn(exception.message);
      return ApiError.unavailable(
        'session_store_unavailable',
        'The session store is unavailable; try again shortly',
      );
    }
    if (exception instanceof SessionTooLargeError) {
      return new ApiError(
        HttpStatus.PAYLOAD_TOO_LARGE,
        'invalid_request_error',
        'session_too_large',
        exception.message,
      );
    }
    if (exception instanceof InvalidSessionInputError) {
      return ApiError.badRequest('invalid_session_input', exception.message);
    }
    return undefined;
  }
}
