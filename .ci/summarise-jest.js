// Prints "tests: N passed, N failed" from jest's --json output plus the counts other checks
// printed as "<name>: N passed, N failed" (their last such line); exits 1 when anything failed.
const fs = require('node:fs');

const [file, ...others] = process.argv.slice(2);
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
let passed = results.numPassedTests;
let failed = results.numFailedTests + brokenSuites;
console.log(`jest: ${passed} passed, ${failed} failed`);
for (const other of others) {
  let text = '';
  try {
    text = fs.readFileSync(other, 'utf8');
  } catch {
    // A check that wrote nothing failed before it could count.
  }
  const counts = [...text.matchAll(/^([\w-]+): (\d+) passed, (\d+) failed$/gm)].pop();
  if (!counts) {
    console.log(`${other}: no "N passed, N failed" line (counted as 1 failed)`);
    failed += 1;
    continue;
  }
  console.log(`${counts[1]}: ${counts[2]} passed, ${counts[3]} failed`);
  passed += Number(counts[2]);
  failed += Number(counts[3]);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
