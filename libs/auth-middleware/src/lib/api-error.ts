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

/** An HTTP error that answers in the one JSON error shape. */
export class ApiError extends HttpException {
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
}
