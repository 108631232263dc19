/**
 * Compiles src/, stores/ and bench/ to JavaScript for the benchmark's child processes, with TypeScript's own
 * emitter (what `npm run build` ships to users), into bench/results/build/ (same tree, `.js` + source maps).
 *
 * The children then run plain `node`: kairos is measured as its users run it, not through tsx's on-the-fly
 * transpiling (whose keepNames wrappers add a call to every closure created per run, and whose loader adds
 * ~0.5 s to every process start). Files are transpiled one by one (no type check: `npm run typecheck` does
 * that), which takes about a second.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const SOURCE_DIRS = ['src', 'stores', 'bench'];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'results' || name === 'node_modules') continue;
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Transpiles every source file to `<root>/bench/results/build/`; returns that directory. */
export function buildForBench(root: string): string {
  const outDir = join(root, 'bench', 'results', 'build');
  rmSync(outDir, { recursive: true, force: true });
  const files = SOURCE_DIRS.flatMap((dir) => sources(join(root, dir)));
  const problems: string[] = [];
  for (const file of files) {
    const rel = relative(root, file);
    const target = join(outDir, rel.replace(/\.ts$/, '.js'));
    const output = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        sourceMap: true,
        sourceRoot: '',
        esModuleInterop: true,
      },
    });
    for (const diagnostic of output.diagnostics ?? []) {
      problems.push(`${rel}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    }
    mkdirSync(dirname(target), { recursive: true });
    // Point the map at the original .ts file, so that profiles map back to it.
    const map = JSON.parse(output.sourceMapText ?? '{}') as { sources?: string[] };
    map.sources = [relative(dirname(target), file)];
    writeFileSync(target, output.outputText);
    writeFileSync(`${target}.map`, JSON.stringify(map));
  }
  if (problems.length > 0) throw new Error(`cannot compile for the benchmark:\n${problems.join('\n')}`);
  return outDir;
}
