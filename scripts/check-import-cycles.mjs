// Fails when the source of a package imports itself in a circle (type-only imports included:
// a circle of types is still two files that cannot be understood one without the other), or
// when core's records/ or store/ import a layer above them.
// Run by `npm run lint`; `node scripts/check-import-cycles.mjs` prints every circle it finds.
// Reads imports with the TypeScript compiler API (already a dependency), so nothing is added.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'dist') files.push(...sourceFiles(path));
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) {
      files.push(path);
    }
  }
  return files;
}

function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base + '.ts', join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

function importsOf(file) {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => resolveImport(file, f.fileName)).filter(Boolean);
}

/** Tarjan's strongly connected components: every component of more than one file is a circle. */
function circles(graph) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const found = [];
  const visit = (node) => {
    const entry = { index, low: index, onStack: true };
    index += 1;
    state.set(node, entry);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const seen = state.get(next);
      if (!seen) {
        visit(next);
        entry.low = Math.min(entry.low, state.get(next).low);
      } else if (seen.onStack) {
        entry.low = Math.min(entry.low, seen.index);
      }
    }
    if (entry.low === entry.index) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        state.get(member).onStack = false;
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component);
    }
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const graph = new Map();
for (const pkg of readdirSync(join(root, 'packages'))) {
  const src = join(root, 'packages', pkg, 'src');
  if (!existsSync(src)) continue;
  for (const file of sourceFiles(src)) graph.set(file, importsOf(file));
}

/**
 * Core's layers (ARCHITECTURE.md): the records layer and the store below it never import the
 * flows, the coordinator or the operations API above them.
 */
const core = join(root, 'packages', 'core', 'src');
const LOWER = ['records', 'store'];
const UPPER = ['runtime', 'invocation', 'correlation', 'timeouts', 'cluster', 'operations', 'cli'];
const folderOf = (file) => relative(core, file).split(sep)[0];
const upward = [];
for (const [file, imports] of graph) {
  if (!file.startsWith(core + sep) || !LOWER.includes(folderOf(file))) continue;
  for (const target of imports) {
    if (target.startsWith(core + sep) && UPPER.includes(folderOf(target))) {
      upward.push(`${relative(root, file)} -> ${relative(root, target)}`);
    }
  }
}
for (const edge of upward) console.error('import against the layers: ' + edge);

const found = circles(graph);
for (const component of found) {
  console.error(
    'import cycle: ' +
      component
        .map((f) => relative(root, f))
        .sort()
        .join(' <-> '),
  );
}
if (found.length > 0 || upward.length > 0) process.exit(1);
console.log(
  `no import cycles in ${graph.size} files under packages/*/src; ` +
    "core's records/ and store/ import nothing above them",
);
