import * as path from 'node:path';
import type { z } from 'zod';
import { AUTH_SETTINGS, PartialAuthSettings } from '../auth/auth.settings.js';
import { SESSION_SETTINGS } from '../session/config/session.options.js';
import { parseSessionDbUrl } from '../session/config/session-db-url.util.js';
import { ConfigIssue, InvalidSettingsError } from './config-issue.js';
import { SERVER_SETTINGS, ServerSettings } from './server.settings.js';
import { BODHI_DEPLOYMENT } from './setting.constants.js';
import { Env, readSection } from './setting.section.js';

/** The session store's settings; the URL defaulted to `$BODHI_HOME/session.sqlite`. */
export type SessionSettings = z.output<typeof SESSION_SETTINGS.schema> & { url: string };

/** Validated, defaulted settings, one typed section per concern: what SettingService serves. */
export interface BodhiSettings {
  server: ServerSettings;
  /** Identity provider; required by the auth service, not by the store alone. */
  auth: PartialAuthSettings;
  session: SessionSettings;
}

/** Every variable the server reads (embedders get these names from napi-config). */
export const BODHI_SETTING_VARIABLES: readonly string[] = [
  SERVER_SETTINGS,
  AUTH_SETTINGS,
  SESSION_SETTINGS,
].flatMap((section) => Object.values(section.variables) as string[]);

/** Rules across sections: what a cluster of instances needs to share one store safely. */
function clusterIssues(server: ServerSettings, session: SessionSettings): ConfigIssue[] {
  if (server.deployment !== 'cluster') return [];
  const variables = SESSION_SETTINGS.variables;
  const issues: ConfigIssue[] = [];
  if (parseSessionDbUrl(session.url).kind !== 'postgres') {
    issues.push({
      variable: variables.url,
      message: `must be a postgres:// URL when ${BODHI_DEPLOYMENT}=cluster (instances share one PostgreSQL)`,
    });
  }
  if (session.encryptionKeys.length === 0) {
    issues.push({
      variable: variables.encryptionKeys,
      message: `is required when ${BODHI_DEPLOYMENT}=cluster (session data in a shared database is encrypted)`,
    });
  }
  if (!session.secret) {
    issues.push({
      variable: variables.secret,
      message: `is required when ${BODHI_DEPLOYMENT}=cluster (every instance must sign cookies alike)`,
    });
  }
  return issues;
}

/**
 * Validates the environment, section by section, and fills in defaults, including the
 * SQLite file under BODHI_HOME. Every problem of every section is reported at once.
 */
export function parseSettings(env: Env): BodhiSettings {
  const server = readSection(SERVER_SETTINGS, env);
  const auth = readSection(AUTH_SETTINGS, env);
  const session = readSection(SESSION_SETTINGS, env);
  if (!server.ok || !auth.ok || !session.ok) {
    throw new InvalidSettingsError(
      [server, auth, session].flatMap((section) => (section.ok ? [] : section.issues)),
    );
  }
  const settings: BodhiSettings = {
    server: server.value,
    auth: auth.value,
    session: {
      ...session.value,
      url: session.value.url ?? `sqlite:${path.join(server.value.home, 'session.sqlite')}`,
    },
  };
  const issues = clusterIssues(settings.server, settings.session);
  if (issues.length > 0) throw new InvalidSettingsError(issues);
  return settings;
}
