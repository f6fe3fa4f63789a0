module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'routes-app',
  rootDir: __dirname,
};
