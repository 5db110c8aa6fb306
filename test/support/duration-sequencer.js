'use strict';
// Jest runs the longest suites first when it knows their durations from an earlier run (its
// cache). A fresh clone (CI) has no cache, and jest falls back to file size, which put the soak
// suite 102nd of 130: a long suite that starts late leaves the other worker idle at the end. So
// where the cache knows nothing, this sequencer takes the duration a recent run recorded in
// suite-durations.json (refresh it with `node test/support/record-suite-durations.js FILE`
// from a `jest --json --outputFile=FILE` run).
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;
const recorded = require('./suite-durations.json');

const root = path.resolve(__dirname, '..', '..');

class DurationSequencer extends Sequencer {
  time(test) {
    const cached = super.time(test);
    if (cached != null) return cached;
    return recorded[path.relative(root, test.path).split(path.sep).join('/')];
  }
}

module.exports = DurationSequencer;
