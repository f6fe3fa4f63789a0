// Shared Jest setup for every library. NestJS 12 (like openid-client and oidc-provider)
// ships ES modules only, so the workspace is ESM and Jest runs in its native ESM mode
// (node --experimental-vm-modules, set by each test target). ts-jest transpiles only —
// type errors are the `typecheck` target's job, which keeps test start-up fast — and
// @bodhi/* aliases resolve to each library's src exactly as tsconfig.base.json says.
const path = require('node:path');
const { compilerOptions } = require('./tsconfig.base.json');

const aliases = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [
    `^${alias.replace(/[/.]/g, '\\$&')}$`,
    path.join(__dirname, target),
  ]),
);

module.exports = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { useESM: true, tsconfig: path.join(__dirname, 'tsconfig.spec.base.json') },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  moduleNameMapper: {
    ...aliases,
    // A CommonJS package over ESM-only Nest: see jest.throttler.mjs.
    '^@nestjs/throttler$': path.join(__dirname, 'jest.throttler.mjs'),
    // Source imports say './x.js' (Node ESM rules); the file on disk is x.ts.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // Store tests talk to real databases; give slow machines room without hiding hangs.
  testTimeout: 30000,
  // The summary of failing tests is printed last, whatever the number of suites (Jest's
  // default shows it only above 20), so the tail of a CI log names what failed.
  reporters: [['default', { summaryThreshold: 0 }]],
};
