// Prints "tests: N passed, N failed" from jest's --json output; exits 1 when anything failed.
const fs = require('node:fs');

const file = process.argv[2];
let results;
try {
  results = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (error) {
  console.log(`jest wrote no readable results (${error.message})`);
  console.log('tests: 0 passed, 1 failed');
  process.exit(1);
}
// A suite that fails to load counts as a failure even though it ran no test.
const brokenSuites = results.testResults.filter(
  (suite) => suite.status === 'failed' && suite.assertionResults.length === 0,
).length;
const passed = results.numPassedTests;
const failed = results.numFailedTests + brokenSuites;
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
