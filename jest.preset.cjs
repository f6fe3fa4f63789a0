// Shared Jest setup for every library: ts-jest transpiles only (type errors are the
// `typecheck` target's job, which keeps test start-up fast), and @bodhi/* aliases
// resolve to each library's src/index.ts exactly as tsconfig.base.json says.
const path = require('node:path');
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.base.json');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.spec.base.json') }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, {
    prefix: `${__dirname}/`,
  }),
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // Store tests talk to real databases; give slow CI machines room without hiding hangs.
  testTimeout: 30000,
};
