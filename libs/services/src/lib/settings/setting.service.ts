import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthSettings, requireAuthSettings } from '../auth/auth.settings.js';
import { ensureDirectory } from '../util/fs.util.js';
import type { BodhiSettings, SessionSettings } from './setting.schema.js';
import type { ServerSettings } from './server.settings.js';
import { SESSION_SECRET_FILE } from './setting.constants.js';
import { BODHI_SETTINGS } from './setting.tokens.js';

/**
 * The validated settings, one typed section per concern. Construction creates BODHI_HOME,
 * so the default SQLite file and the generated cookie secret always have a place to live.
 */
@Injectable()
export class SettingService {
  private readonly logger = new Logger(SettingService.name);
  private cachedSecret?: string;
  readonly server: ServerSettings;
  readonly session: SessionSettings;

  constructor(@Inject(BODHI_SETTINGS) private readonly settings: BodhiSettings) {
    this.server = settings.server;
    this.session = settings.session;
    ensureDirectory(settings.server.home);
  }

  /** Identity-provider settings; a missing one stops boot naming the variable. */
  get auth(): AuthSettings {
    return requireAuthSettings(this.settings.auth);
  }

  isDevelopment(): boolean {
    return this.server.envType === 'development';
  }

  /**
   * Origin browsers use to reach the server (`BODHI_PUBLIC_*`, defaulting to the bind
   * address). `port` overrides the configured port: a server bound to port 0 knows its
   * real port only after listening.
   */
  publicUrl(port = this.server.publicPort): string {
    const { publicScheme, publicHost } = this.server;
    const defaultPort = publicScheme === 'https' ? 443 : 80;
    return `${publicScheme}://${publicHost}${port === defaultPort ? '' : `:${port}`}`;
  }

  /**
   * The cookie-signing secret. A standalone install without `BODHI_SESSION_SECRET` gets a
   * random one kept in `$BODHI_HOME/session_secret` (mode 600), so logins survive restarts.
   * Cluster mode never gets here without a configured secret (the schema requires it).
   */
  sessionSecret(): string {
    if (this.session.secret) return this.session.secret;
    this.cachedSecret ??= this.readOrCreateSecretFile();
    return this.cachedSecret;
  }

  private readOrCreateSecretFile(): string {
    const file = path.join(this.server.home, SESSION_SECRET_FILE);
    try {
      // 'wx' fails if another process created it first; then we read theirs.
      fs.writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
      this.logger.log(`Generated a cookie-signing secret in ${file}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return fs.readFileSync(file, 'utf8').trim();
  }
}
