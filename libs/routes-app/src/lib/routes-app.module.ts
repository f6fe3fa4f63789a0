import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ThrottlerModule } from '@nestjs/throttler';
import { SettingService } from '@bodhi/services';
import { AuthRateLimitGuard, authRateLimitOptions } from './auth-rate-limit.js';
import { AuthController } from './auth.controller.js';
import { DevController, DevOnlyGuard } from './dev.controller.js';
import { HealthController } from './health.controller.js';
import { LoginMetrics } from './login-metrics.js';
import { SessionsController } from './sessions.controller.js';
import { UserController } from './user.controller.js';

/**
 * The `/bodhi/v1` API. Needs the app services (settings, sessions, auth) provided
 * globally and `AuthContextMiddleware` applied to its routes — server-app wires both.
 */
@Module({
  imports: [
    TerminusModule,
    ThrottlerModule.forRootAsync({ inject: [SettingService], useFactory: authRateLimitOptions }),
  ],
  controllers: [
    AuthController,
    UserController,
    SessionsController,
    HealthController,
    DevController,
  ],
  providers: [DevOnlyGuard, AuthRateLimitGuard, LoginMetrics],
})
export class RoutesAppModule {}
