/** @type {import('jest').Config} */
const swc = [
  '@swc/jest',
  {
    // Legacy decorators + metadata: inversify, class-validator and TypeORM read design:type.
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

module.exports = {
  testEnvironment: 'node',
  setupFiles: ['reflect-metadata'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@psi/(core|adapters)/testing$': '<rootDir>/packages/$1/src/testing',
    '^@psi/adapters/kafka$': '<rootDir>/packages/adapters/src/kafka',
    '^@psi/engines/xstate$': '<rootDir>/packages/engines/src/xstate',
    '^@psi/testing/xstate$': '<rootDir>/packages/testing/src/xstate',
    '^@psi/testing/conformance$': '<rootDir>/packages/testing/src/conformance',
    '^@psi/(core|adapters|engines|registry|cli|console|testing)$': '<rootDir>/packages/$1/src',
  },
  testMatch: [
    '<rootDir>/packages/*/src/**/*.test.ts',
    '<rootDir>/test/**/*.test.ts',
    '<rootDir>/samples/**/*.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 30000,
  // Two workers everywhere (jest's default on a 2-core machine is one, in band): most suites wait
  // on PostgreSQL, SQLite syncs and child processes, so two overlap well, and the run is the same
  // on a laptop and in CI.
  maxWorkers: 2,
  // Longest suites first even in a fresh clone, where jest has no timings of its own.
  testSequencer: '<rootDir>/test/support/duration-sequencer.js',
  // Fails the run, listing what is open, when a test leaves a handle that keeps jest alive.
  reporters: ['default', '<rootDir>/test/support/exit-guard.reporter.js'],
};
