#!/usr/bin/env node
'use strict';
// The `psi` command (npx psi): the compiled CLI in ../dist, built by `npm run build`.
let cli;
try {
  cli = require('../dist/index.js');
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes('dist')) {
    console.error('psi is not built yet: run `npm run build` in the PSI repository first.');
    process.exit(1);
  }
  throw error;
}
cli.runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
