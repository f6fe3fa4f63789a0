import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuthController } from './auth.controller.js';
import { DevController, DevOnlyGuard } from './dev.controller.js';
import { HealthController } from './health.controller.js';
import { UserController } from './user.controller.js';

/**
 * The `/bodhi/v1` API. Needs the app services (settings, sessions, auth) provided
 * globally and `AuthContextMiddleware` applied to its routes — server-app wires both.
 */
@Module({
  imports: [TerminusModule],
  controllers: [AuthController, UserController, HealthController, DevController],
  providers: [DevOnlyGuard],
})
export class RoutesAppModule {}
