import { execFileSync, execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// bpmn-engine and xstate are optional peer dependencies of @psi/engines: a user of one engine
// installs only that one. This runs the built package in an application folder where neither is
// installed (a copy of @psi/engines, so Node resolves its imports from that folder, and
// @psi/core linked): importing the package and running the reference engine work; building a
// plugin whose engine is missing throws EngineDependencyMissingError naming the package.

const root = path.resolve(__dirname, '..', '..');

const script = `
require('reflect-metadata');
const { ReferenceEngine, defineProcess, BpmnEnginePlugin } = require('@psi/engines');
const { XStatePlugin } = require('@psi/engines/xstate');
const report = {};
for (const dependency of ['bpmn-engine', 'xstate']) {
  try { require.resolve(dependency); report[dependency + ' resolvable'] = true; }
  catch { report[dependency + ' resolvable'] = false; }
}
function attempt(name, build) {
  try { build(); report[name] = 'built'; }
  catch (error) { report[name] = { code: error.code, message: error.message }; }
}
attempt('BpmnEnginePlugin', () => new BpmnEnginePlugin());
attempt('XStatePlugin', () => new XStatePlugin({ definitions: [] }));
const engine = new ReferenceEngine({ definitions: [defineProcess({
  id: 'one-step', start: 'wait', steps: { wait: { kind: 'wait', transitions: { done: 'end' } }, end: { kind: 'end' } },
})] });
engine.start('one-step', {}, { instanceId: 'i-1' })
  .then(() => engine.signal('i-1', 'wait', { transition: 'done' }))
  .then(() => engine.getInstance('i-1'))
  .then((instance) => { report.reference = instance.status; return engine.stop(); })
  .then(() => process.stdout.write(JSON.stringify(report)));
`;

describe('@psi/engines without its optional engines installed', () => {
  let app: string;
  beforeAll(() => {
    execSync('npx tsc -b packages/engines', { cwd: root, stdio: 'pipe' });
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-engines-alone-'));
    const engines = path.join(app, 'node_modules', '@psi', 'engines');
    fs.mkdirSync(engines, { recursive: true });
    fs.copyFileSync(
      path.join(root, 'packages', 'engines', 'package.json'),
      path.join(engines, 'package.json'),
    );
    fs.cpSync(path.join(root, 'packages', 'engines', 'dist'), path.join(engines, 'dist'), {
      recursive: true,
    });
    // @psi/core and reflect-metadata resolve their own dependencies from where they really are.
    fs.symlinkSync(
      path.join(root, 'packages', 'core'),
      path.join(app, 'node_modules', '@psi', 'core'),
    );
    fs.symlinkSync(
      path.join(root, 'node_modules', 'reflect-metadata'),
      path.join(app, 'node_modules', 'reflect-metadata'),
    );
    fs.writeFileSync(path.join(app, 'main.js'), script);
  }, 120_000);
  afterAll(() => fs.rmSync(app, { recursive: true, force: true }));

  it('imports, runs the reference engine, and names the missing package when a plugin is built', () => {
    const env = { ...process.env };
    delete env.NODE_PATH;
    const output = execFileSync(process.execPath, ['main.js'], { cwd: app, env, encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual({
      'bpmn-engine resolvable': false,
      'xstate resolvable': false,
      BpmnEnginePlugin: {
        code: 'PSI_ENGINE_DEPENDENCY_MISSING',
        message: expect.stringContaining('npm install bpmn-engine@"25.0.1"'),
      },
      XStatePlugin: {
        code: 'PSI_ENGINE_DEPENDENCY_MISSING',
        message: expect.stringContaining('npm install xstate@"^5.33.3"'),
      },
      reference: 'completed',
    });
  });
});
