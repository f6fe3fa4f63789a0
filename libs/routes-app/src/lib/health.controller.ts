import { Controller, Get, Logger } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { DefaultSessionService } from '@bodhi/services';
import { API_PREFIX } from './routes.constants.js';

@Controller(API_PREFIX)
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly sessions: DefaultSessionService,
  ) {}

  @Get('ping')
  ping(): { message: string } {
    return { message: 'pong' };
  }

  /**
   * 200 with `session_store: up`, or 503 when the store does not answer `SELECT 1` in 2 s.
   * The route is unauthenticated and the driver's message may name the database host and
   * port, so the answer says only "unavailable" and the cause goes to the log.
   */
  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([
      async () => {
        const indicator = this.indicators.check('session_store');
        try {
          await this.sessions.ping(2000);
          return indicator.up({ backend: this.sessions.getSessionStore().kind });
        } catch (e) {
          this.logger.warn(`Health check: ${(e as Error).message}`);
          return indicator.down({ message: 'session store unavailable' });
        }
      },
    ]);
  }
}
