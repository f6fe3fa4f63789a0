import nx from '@nx/eslint-plugin';

import { LAYERS as layers } from './layers.mjs';

// The layer order is a checked fact: each library may import only the libraries below it.
const layerConstraints = layers.map((layer, i) => ({
  sourceTag: `scope:${layer}`,
  onlyDependOnLibsWithTags: layers.slice(0, i + 1).map((l) => `scope:${l}`),
}));

// The test kit (@bodhi/testing, tag type:testing) may import anything; specs of every project
// may import it, production code never: the constraints below take it in only for spec files.
const TEST_FILES = ['**/*.spec.ts', '**/*.e2e-spec.ts', '**/*.pw-spec.ts'];
const constraints = (forTests) => {
  const allowKit = (constraint) =>
    forTests
      ? {
          ...constraint,
          onlyDependOnLibsWithTags: [...constraint.onlyDependOnLibsWithTags, 'type:testing'],
        }
      : constraint;
  return [
    ...[
      ...layerConstraints,
      // The identity provider is a separate system: it uses nothing of ours.
      { sourceTag: 'scope:dev-auth-server', onlyDependOnLibsWithTags: [] },
      {
        sourceTag: 'scope:bodhi-server',
        onlyDependOnLibsWithTags: ['scope:server-app', 'scope:services'],
      },
      // Apps sit on top and may use every library.
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
    ].map(allowKit),
    // The e2e and the benchmark are test code throughout: they may also use the apps and the kit.
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:app', 'type:testing'] },
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['*'] },
  ];
};
const boundaries = (forTests) => [
  'error',
  {
    enforceBuildableLibDependency: true,
    // Specs start the identity provider and drive its login form with its test helpers, and
    // the kit reads the provider's settings as it does (production code may not: see the
    // test-kit rule below).
    allow: ['@bodhi/dev-auth-server/testing', '@bodhi/dev-auth-server/testing/config'],
    // A library's specs import the kit, and the kit imports the library: a cycle through a
    // spec, by design. The libraries drop that edge from the project graph
    // (implicitDependencies "!testing"), and the lint does not count it as circular; the
    // constraints keep it test-only (production code may not import the kit).
    ignoredCircularDependencies: [['testing', '*']],
    depConstraints: constraints(forTests),
  },
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist', '**/node_modules', '**/.nx', '**/coverage', '**/*.cjs'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: TEST_FILES,
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
  {
    // Test kits are for specs. Production code of the libraries and apps never imports one.
    files: ['libs/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: [
      '**/*.spec.ts',
      '**/*.e2e-spec.ts',
      'apps/bodhi-server-e2e/**',
      'libs/testing/**',
      'apps/dev-auth-server/src/testing/**',
      // The development provider is itself a test tool: its public API includes its kit.
      'apps/dev-auth-server/src/index.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@bodhi/testing', '@bodhi/*/testing', '**/testing/index.js'],
              message: 'Test kits are for specs only; production code may not import them.',
            },
          ],
        },
      ],
    },
  },
];
