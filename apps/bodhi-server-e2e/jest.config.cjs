module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'bodhi-server-e2e',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.e2e-spec.ts'],
  // Each spec starts real processes (identity provider, one or two servers): give them time,
  // and keep the 2-core machine from running more than two stacks at once.
  testTimeout: 60000,
  maxWorkers: 2,
};
