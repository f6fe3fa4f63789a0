module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'napi-config',
  rootDir: __dirname,
};
