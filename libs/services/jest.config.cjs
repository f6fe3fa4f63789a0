module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'services',
  rootDir: __dirname,
};
