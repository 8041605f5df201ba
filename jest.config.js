/**
 * Three tiers, by file name, each its own Jest project:
 *   unit  *.spec.ts       pure, fast, no I/O
 *   int   *.int.spec.ts   real PostgreSQL and a real Kafka broker (started by the global setup)
 *   e2e   *.e2e.spec.ts   whole Waybill processes over HTTP
 */
const { compilerOptions } = require('./tsconfig.base.json');

const swc = {
  jsc: {
    // swc rewrites the @waybill/* aliases itself, so they resolve even where Jest's module
    // mapping does not apply (the global setup runs outside Jest's module system).
    baseUrl: __dirname,
    paths: compilerOptions.paths,
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^@waybill/kafka-local$': '<rootDir>/tools/kafka-local/src/index.ts',
    '^@waybill/edge$': '<rootDir>/tools/edge/edge.ts',
    '^@waybill/distributed$': '<rootDir>/tools/distributed/index.ts',
    '^@waybill/(.*)$': '<rootDir>/libs/$1/src/index.ts',
  },
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/tools'],
  rootDir: __dirname,
};

const withServers = {
  globalSetup: '<rootDir>/libs/testing/src/env/global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/env/global-teardown.ts',
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['**/*.spec.ts'], testPathIgnorePatterns: ['\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$', '/node_modules/'] },
    { ...base, ...withServers, displayName: 'int', testMatch: ['**/*.int.spec.ts'], slowTestThreshold: 30, testTimeout: 60_000 },
    { ...base, ...withServers, displayName: 'e2e', testMatch: ['**/*.e2e.spec.ts'], slowTestThreshold: 60, testTimeout: 120_000 },
  ],
};
