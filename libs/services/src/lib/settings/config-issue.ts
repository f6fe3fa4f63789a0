import type { z } from 'zod';

/**
 * One thing wrong with the configuration: the setting at fault (an environment variable, or
 * an option name for code that configures a module directly) and what is wrong with it.
 * Messages never echo a secret: a URL appears with its password as `***`, other values not at all.
 */
export interface ConfigIssue {
  variable: string;
  message: string;
  /** Where the value came from when not from `variable` itself, e.g. `--url` on a command line. */
  source?: string;
}

export const formatConfigIssue = (issue: ConfigIssue): string =>
  `${issue.variable}${issue.source ? ` (given as ${issue.source})` : ''} ${issue.message}`;

/** Zod's issues as ConfigIssues; `nameOf` maps a schema key to the name a user set. */
export function configIssues(
  error: z.ZodError,
  nameOf: (key: string) => string = (key) => key,
): ConfigIssue[] {
  return error.issues.map((issue) => ({
    variable: nameOf(String(issue.path[0] ?? '')),
    message: issue.message,
  }));
}

/** Boot-stopping configuration error: one message naming each offending variable. */
export class InvalidSettingsError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid configuration: ${issues.map(formatConfigIssue).join('; ')}`);
    this.name = 'InvalidSettingsError';
  }
}
