module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'app-service-builder',
  rootDir: __dirname,
};
