module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'dev-auth-server',
  rootDir: __dirname,
};
