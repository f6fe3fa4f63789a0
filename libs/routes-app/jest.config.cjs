module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'routes-app',
  rootDir: __dirname,
  // Nothing to test until this layer gets its code (see the README's roadmap).
  passWithNoTests: true,
};
