import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SessionModuleOptions } from './session.options.js';

export const {
  ConfigurableModuleClass: ConfigurableSessionModule,
  MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<SessionModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
