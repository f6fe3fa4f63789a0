import {
  CanActivate,
  Controller,
  Get,
  Injectable,
  Post,
  UseGuards,
  HttpCode,
} from '@nestjs/common';
import { ApiError, RequireRole } from '@bodhi/auth-middleware';
import { DefaultSessionService, SettingService } from '@bodhi/services';
import { API_PREFIX } from './routes.constants.js';

/** Dev routes exist only when BODHI_ENV_TYPE=development; elsewhere they are a plain 404. */
@Injectable()
export class DevOnlyGuard implements CanActivate {
  constructor(private readonly settings: SettingService) {}

  canActivate(): boolean {
    if (!this.settings.isDevelopment()) {
      throw new ApiError(404, 'not_found_error', 'not_found', 'Not Found');
    }
    return true;
  }
}

/**
 * What a developer uses to inspect and reset the store: an admin's only (a logged-out page,
 * or a user, must not list or end everyone's sessions), and in development mode only.
 */
@Controller(`${API_PREFIX}/dev`)
// Class decorators apply bottom up: DevOnlyGuard runs first, so outside development mode
// the routes are a plain 404 for everyone, not a 401 that tells they exist.
@RequireRole('resource_admin')
@UseGuards(DevOnlyGuard)
export class DevController {
  constructor(private readonly sessions: DefaultSessionService) {}

  @Post('db-reset')
  @HttpCode(200)
  async reset(): Promise<{ status: 'ok'; sessions_cleared: number }> {
    return { status: 'ok', sessions_cleared: await this.sessions.clearAllSessions() };
  }

  @Get('sessions')
  async sessionsDump(): Promise<{ sessions: { id: string; user_id: string | null }[] }> {
    const rows = await this.sessions.dumpAllSessions();
    return { sessions: rows.map(([id, userId]) => ({ id, user_id: userId })) };
  }
}
