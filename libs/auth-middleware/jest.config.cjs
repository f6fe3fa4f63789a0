module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'auth-middleware',
  rootDir: __dirname,
  // Nothing to test until this layer gets its code (see the README's roadmap).
  passWithNoTests: true,
};
