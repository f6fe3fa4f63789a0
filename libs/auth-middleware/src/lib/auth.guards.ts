import {
  applyDecorators,
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  Injectable,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Role, roleAtLeast } from '@bodhi/services';
import type { Request } from 'express';
import { ApiError } from './api-error.js';
import type { AuthContext } from './auth-context.js';

const MIN_ROLE = Symbol('bodhi:min-role');

function contextOf(ctx: ExecutionContext): AuthContext {
  return ctx.switchToHttp().getRequest<Request>().authContext ?? { kind: 'anonymous' };
}

/** Lets through logged-in users and bearer tokens; 401 for anonymous callers. */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    if (contextOf(ctx).kind === 'anonymous')
      throw ApiError.unauthorized('not_authenticated', 'Log in first');
    return true;
  }
}

/** Enforces `@RequireRole(role)`: the caller's role must be at least that role (else 403). */
@Injectable()
export class RoleGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    const minimum = this.reflector.getAllAndOverride<Role | undefined>(MIN_ROLE, [
      ctx.getHandler(),
      ctx.getClass(),
    ]);
    if (!minimum) return true;
    const auth = contextOf(ctx);
    if (auth.kind === 'anonymous') throw ApiError.unauthorized('not_authenticated', 'Log in first');
    if (!roleAtLeast(auth.role, minimum)) {
      throw ApiError.forbidden('insufficient_role', `This needs the ${minimum} role`);
    }
    return true;
  }
}

/** The route needs a logged-in user or token. */
export const Authenticated = () => UseGuards(AuthenticatedGuard);

/** The route needs at least `role` (implies authenticated). */
export const RequireRole = (role: Role) =>
  applyDecorators(SetMetadata(MIN_ROLE, role), UseGuards(AuthenticatedGuard, RoleGuard));

/** Injects the request's AuthContext into a handler parameter. */
export const CurrentAuth = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthContext => contextOf(ctx),
);
