import nx from '@nx/eslint-plugin';

import { LAYERS as layers } from './layers.mjs';

// The layer order is a checked fact: each library may import only the libraries below it.
const layerConstraints = layers.map((layer, i) => ({
  sourceTag: `scope:${layer}`,
  onlyDependOnLibsWithTags: layers.slice(0, i + 1).map((l) => `scope:${l}`),
}));

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist', '**/node_modules', '**/.nx', '**/coverage', '**/*.cjs'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          // Specs start the identity provider and drive its login form with its test helpers
          // (production code may not: see the test-kit rule below).
          allow: ['@bodhi/dev-auth-server/testing'],
          depConstraints: [
            ...layerConstraints,
            // The identity provider is a separate system: it uses nothing of ours.
            { sourceTag: 'scope:dev-auth-server', onlyDependOnLibsWithTags: [] },
            {
              sourceTag: 'scope:bodhi-server',
              onlyDependOnLibsWithTags: ['scope:server-app', 'scope:services'],
            },
            // Apps sit on top and may use every library; e2e specs may also use the apps.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Test kits are for specs. Production code of the libraries and apps never imports one.
    files: ['libs/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: [
      '**/*.spec.ts',
      '**/*.e2e-spec.ts',
      'apps/bodhi-server-e2e/**',
      'libs/services/src/testing.ts',
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
              group: ['@bodhi/*/testing', '**/testing.js', '**/testing/index.js'],
              message: 'Test kits are for specs only; production code may not import them.',
            },
          ],
        },
      ],
    },
  },
];
