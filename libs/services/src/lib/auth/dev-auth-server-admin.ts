import { Injectable } from '@nestjs/common';
import type { Role } from './auth.constants.js';
import { AuthGrantRejectedError, AuthProviderUnavailableError } from './auth.errors.js';
import { AuthService } from './auth.service.js';
import { IdentityProviderAdmin } from './identity-provider-admin.js';

/**
 * `IdentityProviderAdmin` over the development provider's admin API (apps/dev-auth-server:
 * `PUT <issuer>/admin/users/<id>/role`, `POST <issuer>/admin/users/<id>/logout`), which
 * stands in for Keycloak's. It accepts only a client-credentials token of the server's own
 * client.
 */
@Injectable()
export class DevAuthServerAdmin extends IdentityProviderAdmin {
  constructor(private readonly auth: AuthService) {
    super();
  }

  async setUserRole(userId: string, role: Role): Promise<void> {
    await this.userRequest('PUT', userId, 'role', 'the role change', { role });
  }

  async revokeUserGrants(userId: string): Promise<void> {
    await this.userRequest('POST', userId, 'logout', 'the logout');
  }

  /**
   * `method <issuer>/admin/users/<userId>/<action>` with a client-credentials token and `body`
   * as JSON. A 404 in JSON means the provider does not know the user; any other failure is
   * the provider's (`what` names the request in the error).
   */
  private async userRequest(
    method: 'PUT' | 'POST',
    userId: string,
    action: string,
    what: string,
    body?: object,
  ): Promise<void> {
    const token = await this.auth.clientCredentialsToken();
    const issuer = this.auth.issuer();
    // Relative to the issuer's path, which a provider may mount below its origin.
    const base = issuer.endsWith('/') ? issuer : `${issuer}/`;
    const url = new URL(`admin/users/${encodeURIComponent(userId)}/${action}`, base);
    let response: Response;
    try {
      // Bounded as every call to the provider is (BODHI_AUTH_TIMEOUT_MS).
      response = await this.auth.fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body && { 'content-type': 'application/json' }),
        },
        body: body && JSON.stringify(body),
      });
    } catch (e) {
      throw new AuthProviderUnavailableError(
        `identity provider unreachable: ${(e as Error).message}`,
      );
    }
    // The admin API answers JSON, its 404 included: anything else (a proxy's error page, a
    // login page) is not the provider's answer.
    const json = /^application\/json\b/i.test(response.headers.get('content-type') ?? '');
    if (response.status === 404 && json)
      throw new AuthGrantRejectedError(`user ${userId} is unknown to the identity provider`);
    if (!response.ok || !json)
      throw new AuthProviderUnavailableError(
        `identity provider refused ${what} (HTTP ${response.status}${json ? '' : ', not JSON'})`,
      );
  }
}
