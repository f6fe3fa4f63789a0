import { InvalidSettingsError } from '../settings/config-issue.js';
import { parseSettings } from '../settings/setting.schema.js';

const PROVIDER = {
  BODHI_AUTH_URL: 'https://idp.example/realms/bodhi',
  BODHI_AUTH_CLIENT_ID: 'c',
  BODHI_AUTH_CLIENT_SECRET: 's',
};

/** The issues parseSettings stops boot with for `env`. */
function issuesOf(env: Record<string, string>) {
  try {
    parseSettings({ ...PROVIDER, ...env });
  } catch (e) {
    if (e instanceof InvalidSettingsError) return e.issues;
    throw e;
  }
  throw new Error('settings were accepted');
}

describe('BODHI_AUTH_TOKEN_ALGORITHMS', () => {
  it('defaults to RS256 and reads a comma-separated list', () => {
    expect(parseSettings(PROVIDER).auth.tokenAlgorithms).toEqual(['RS256']);
    expect(
      parseSettings({ ...PROVIDER, BODHI_AUTH_TOKEN_ALGORITHMS: ' PS256, ES384 ,EdDSA' }).auth
        .tokenAlgorithms,
    ).toEqual(['PS256', 'ES384', 'EdDSA']);
  });

  it.each(['HS256', 'RS256,none', 'none', 'rs256', ' , '])(
    'stops boot on %j, naming the variable',
    (value) => {
      const issues = issuesOf({ BODHI_AUTH_TOKEN_ALGORITHMS: value });
      expect(issues.length).toBeGreaterThan(0);
      for (const issue of issues) {
        expect(issue).toEqual({
          variable: 'BODHI_AUTH_TOKEN_ALGORITHMS',
          message:
            'must list JWS algorithms among RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA (asymmetric ones only)',
        });
      }
    },
  );
});

describe('BODHI_AUTH_TIMEOUT_MS', () => {
  it('defaults to 5 s and reads a whole number of milliseconds', () => {
    expect(parseSettings(PROVIDER).auth.timeoutMs).toBe(5000);
    expect(parseSettings({ ...PROVIDER, BODHI_AUTH_TIMEOUT_MS: '1500' }).auth.timeoutMs).toBe(
      1500,
    );
  });

  it.each(['0', '99', '30001', '2.5', 'five', '-1'])(
    'stops boot on %j, naming the variable',
    (value) => {
      expect(issuesOf({ BODHI_AUTH_TIMEOUT_MS: value })).toEqual([
        {
          variable: 'BODHI_AUTH_TIMEOUT_MS',
          message: 'must be a whole number of milliseconds from 100 to 30000',
        },
      ]);
    },
  );
});
