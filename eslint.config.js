// Import direction: core <- crypto <- (storage, clients, aggregator) <- simulations <- cli.
// schema/ holds drizzle declarations only; only aggregator/ (and the layers above it) read it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (folder, forbidden) => ({
  files: [`${folder}/**/*.ts`, `${folder}/**/*.tsx`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map(([dir, why]) => ({
          group: [`**/${dir}/*`, `**/${dir}`],
          message: `${folder}/ must not import ${dir}/: ${why}`,
        })),
      },
    ],
  },
});

const above = {
  crypto: 'crypto sits above core only',
  storage: 'storage is a sibling of clients and aggregator',
  clients: 'clients is a sibling layer; share code through core or crypto',
  aggregator: 'aggregator is a sibling layer; share code through core or crypto',
  schema: 'only the aggregator (and the layers above it) touch the database',
  simulations: 'simulations sit above the runtime layers',
  cli: 'cli is the top layer; move shared code down',
};
const no = (...dirs) => dirs.map((d) => [d, above[d]]);

export default tseslint.config(
  { ignores: ['node_modules/**', 'drizzle/**', '.tessera/**', 'test-artifacts/**', 'cli/bin.mjs', 'tmp/**', '.tmp-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  layer('core', no('crypto', 'storage', 'clients', 'aggregator', 'schema', 'simulations', 'cli')),
  layer('crypto', no('storage', 'clients', 'aggregator', 'schema', 'simulations', 'cli')),
  layer('schema', no('crypto', 'storage', 'clients', 'aggregator', 'simulations', 'cli')),
  layer('storage', no('clients', 'aggregator', 'schema', 'simulations', 'cli')),
  layer('clients', no('storage', 'aggregator', 'schema', 'simulations', 'cli')),
  layer('aggregator', no('clients', 'simulations', 'cli')),
  layer('simulations', no('cli')),
);
