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
          // e2e specs drive the identity provider's login form with its own test helper.
          allow: ['@bodhi/dev-auth-server/testing'],
          depConstraints: [
            ...layerConstraints,
            // The identity provider is a separate system: it uses nothing of ours.
            { sourceTag: 'scope:dev-auth-server', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:bodhi-server', onlyDependOnLibsWithTags: ['scope:server-app', 'scope:services'] },
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
];
