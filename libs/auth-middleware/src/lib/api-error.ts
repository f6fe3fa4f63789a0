import { HttpException, HttpStatus } from '@nestjs/common';

/** Error categories of the one JSON error shape, as BodhiApp names them. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'forbidden_error'
  | 'not_found_error'
  | 'internal_server_error'
  | 'service_unavailable';

/** The body of every error answer: `{ "error": { "message", "type", "code" } }`. */
export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; code: string };
}

/** An HTTP error that answers in the one JSON error shape. */
export class ApiError extends HttpException {
  constructor(status: HttpStatus, type: ApiErrorType, code: string, message: string) {
    super({ error: { message, type, code } } satisfies ApiErrorBody, status);
  }

  static badRequest(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'invalid_request_error', code, message);
  }

  static unauthorized(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.UNAUTHORIZED, 'authentication_error', code, message);
  }

  static forbidden(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.FORBIDDEN, 'forbidden_error', code, message);
  }

  static unavailable(code: string, message: string): ApiError {
    return new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'service_unavailable', code, message);
  }
}
