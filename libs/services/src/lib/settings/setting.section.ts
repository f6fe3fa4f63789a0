import type { z } from 'zod';
import { ConfigIssue, configIssues } from './config-issue.js';

export type Env = Record<string, string | undefined>;

/**
 * A concern's settings as the environment spells them: its schema (camelCase keys, the
 * same keys code uses) and the variable behind each key.
 */
export interface SettingSection<S extends z.ZodType = z.ZodType> {
  schema: S;
  variables: { readonly [K in keyof z.input<S>]-?: string };
}

/** Declares a section; the compiler checks that every key has its variable. */
export const settingSection = <S extends z.ZodType>(
  schema: S,
  variables: SettingSection<S>['variables'],
): SettingSection<S> => ({ schema, variables });

export type SectionResult<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/**
 * Reads one section from the environment. Blank values count as unset (as with `FOO=` in a
 * shell); issues name the variable, not the key.
 */
export function readSection<S extends z.ZodType>(
  section: SettingSection<S>,
  env: Env,
): SectionResult<z.output<S>> {
  const variables = section.variables as Record<string, string>;
  const input = Object.fromEntries(
    Object.entries(variables)
      .map(([key, variable]) => [key, env[variable]] as const)
      .filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const result = section.schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: configIssues(result.error, (key) => variables[key] ?? key) };
}
