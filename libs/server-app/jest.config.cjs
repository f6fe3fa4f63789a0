module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'server-app',
  rootDir: __dirname,
};
