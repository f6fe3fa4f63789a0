import { HttpException, HttpStatus } from '@nestjs/common';

/** Error categories of the one JSON error shape, as BodhiApp names them. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'forbidden_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  | 'internal_server_error'
  | 'service_unavailable';

/** The body of every error answer: `{ "error": { "message", "type", "code" } }`. */
export interface ApiErrorBody {
  error: {
    message: string;
    type: ApiErrorType;
    code: string;
    /** The identity provider's error code, a validated token, when it refused a login. */
    provider_error?: string;
  };
}

/** What an error may carry beside its message, type and code. */
export type ApiErrorDetails = Pick<ApiErrorBody['error'], 'provider_error'>;

/**
 * How long a client is told to wait (`Retry-After`, seconds) when the identity provider did
 * not answer: about one bounded provider call (BODHI_AUTH_TIMEOUT_MS's default), by which a
 * restart is often over and a stall has shown itself again.
 */
export const PROVIDER_RETRY_AFTER_SECONDS = 5;

/** An HTTP error that answers in the one JSON error shape. */
export class ApiError extends HttpException {
  /** Seconds the client should wait before trying again: the answer's `Retry-After`. */
  retryAfterSeconds?: number;

  constructor(
    status: HttpStatus,
    type: ApiErrorType,
    code: string,
    message: string,
    details: ApiErrorDetails = {},
  ) {
    super({ error: { message, type, code, ...details } } satisfies ApiErrorBody, status);
  }

  static badRequest(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'invalid_request_error', code, message);
  }

  static unauthorized(code: string, message: string, details?: ApiErrorDetails): ApiError {
    return new ApiError(HttpStatus.UNAUTHORIZED, 'authentication_error', code, message, details);
  }

  static forbidden(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.FORBIDDEN, 'forbidden_error', code, message);
  }

  static conflict(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.CONFLICT, 'conflict_error', code, message);
  }

  static tooManyRequests(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.TOO_MANY_REQUESTS, 'rate_limit_error', code, message);
  }

  static unavailable(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'service_unavailable', code, message);
  }

  /**
   * The identity provider did not answer (AuthProviderUnavailableError): 503
   * `auth_provider_unavailable` with `Retry-After`. The one answer for it, whichever route
   * needed the provider; whatever the request's session held is kept.
   */
  static providerUnavailable(): ApiError {
    const error = ApiError.unavailable(
      'auth_provider_unavailable',
      'The identity provider is unavailable; try again',
    );
    error.retryAfterSeconds = PROVIDER_RETRY_AFTER_SECONDS;
    return error;
  }
}
