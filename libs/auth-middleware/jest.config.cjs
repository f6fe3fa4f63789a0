module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'auth-middleware',
  rootDir: __dirname,
};
