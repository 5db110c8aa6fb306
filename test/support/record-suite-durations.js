'use strict';
// Writes suite-durations.json (what duration-sequencer.js orders a cold run by) from the JSON
// results of a full jest run: `npx jest --json --outputFile=FILE`, then
// `node test/support/record-suite-durations.js FILE`. Only suites that took a second or more
// are kept; the rest run after them in file-size order, which is fine for short ones.
const fs = require('node:fs');
const path = require('node:path');

const file = process.argv[2];
if (!file) {
  console.error('usage: node test/support/record-suite-durations.js JEST_RESULTS.json');
  process.exit(2);
}
const root = path.resolve(__dirname, '..', '..');
const results = JSON.parse(fs.readFileSync(file, 'utf8'));
const durations = {};
for (const suite of results.testResults) {
  const ms = suite.endTime - suite.startTime;
  if (ms >= 1000) durations[path.relative(root, suite.name).split(path.sep).join('/')] = ms;
}
const sorted = Object.fromEntries(Object.entries(durations).sort((a, b) => b[1] - a[1]));
fs.writeFileSync(
  path.join(__dirname, 'suite-durations.json'),
  `${JSON.stringify(sorted, null, 2)}\n`,
);
console.log(`${Object.keys(sorted).length} suites recorded`);
