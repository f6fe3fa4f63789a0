module.exports = {
  ...require('../jest.preset.cjs'),
  displayName: 'bench',
  rootDir: __dirname,
  // One test: the whole harness in --quick mode (real PostgreSQL, real processes). The first
  // run on a clean clone also installs bench/deps (sqlite3 builds from source): give it time.
  testTimeout: 600000,
  maxWorkers: 1,
};
