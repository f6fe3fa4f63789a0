import {
  CanActivate,
  Controller,
  Get,
  Injectable,
  Post,
  UseGuards,
  HttpCode,
} from '@nestjs/common';
import { ApiError } from '@bodhi/auth-middleware';
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

@Controller(`${API_PREFIX}/dev`)
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
