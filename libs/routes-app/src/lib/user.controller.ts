import { Body, Controller, Get, HttpStatus, Param, Put } from '@nestjs/common';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  IdentityProviderAdmin,
  IdentityProviderAdminUnsupportedError,
  isRole,
  RevocationService,
  ROLES,
} from '@bodhi/services';
import { ApiError, CurrentAuth, RequireRole } from '@bodhi/auth-middleware';
import type { AuthContext } from '@bodhi/auth-middleware';
import { API_PREFIX } from './routes.constants.js';

export type UserInfo =
  | { auth_status: 'logged_out' }
  | {
      auth_status: 'logged_in';
      user_id: string;
      username: string;
      first_name: string | null;
      last_name: string | null;
      role: string | null;
    }
  | { auth_status: 'api_token'; role: string | null };

@Controller(API_PREFIX)
export class UserController {
  constructor(
    private readonly provider: IdentityProviderAdmin,
    private readonly revocation: RevocationService,
  ) {}

  @Get('user')
  user(@CurrentAuth() ctx: AuthContext): UserInfo {
    switch (ctx.kind) {
      case 'anonymous':
        return { auth_status: 'logged_out' };
      case 'api_token':
        return { auth_status: 'api_token', role: ctx.role };
      case 'session':
        return {
          auth_status: 'logged_in',
          user_id: ctx.userId,
          username: ctx.username,
          first_name: ctx.firstName,
          last_name: ctx.lastName,
          role: ctx.role,
        };
    }
  }

  /**
   * Changes a user's role at the identity provider, then revokes the user: every token
   * issued to them so far stops working on every instance (bearers included), their
   * sessions end and their grants at the provider too. Their next login carries the role.
   */
  @Put('users/:userId/role')
  @RequireRole('resource_admin')
  async setRole(
    @Param('userId') userId: string,
    @Body() body: { role?: unknown },
  ): Promise<{ user_id: string; role: string; sessions_cleared: number }> {
    const role = body?.role;
    if (!isRole(role))
      throw ApiError.badRequest('invalid_role', `role must be one of ${ROLES.join(', ')}`);
    try {
      await this.provider.setUserRole(userId, role);
    } catch (e) {
      if (e instanceof AuthGrantRejectedError)
        throw ApiError.badRequest('role_change_refused', e.message);
      if (e instanceof IdentityProviderAdminUnsupportedError)
        throw new ApiError(
          HttpStatus.NOT_IMPLEMENTED,
          'internal_server_error',
          'role_change_unsupported',
          e.message,
        );
      if (e instanceof AuthProviderUnavailableError) throw ApiError.providerUnavailable();
      throw e;
    }
    const cleared = await this.revocation.revokeUser(userId, 'role_change');
    return { user_id: userId, role, sessions_cleared: cleared };
  }
}
