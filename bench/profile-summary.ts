/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): self and inclusive time per function, and the hottest
 * source lines, heaviest first. Positions in JavaScript with a `.map` file beside it (bench/profile.ts builds
 * one) are mapped back to the TypeScript file:line.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--filter src/]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const root = fileURLToPath(new URL('..', import.meta.url));
const maps = new Map<string, SourceMap | null>();

function sourceMapOf(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let map: SourceMap | null = null;
    // Only our compiled files: packages' own maps point to sources that are not installed.
    if (url.startsWith('file://') && !url.includes('/node_modules/')) {
      const file = `${fileURLToPath(url)}.map`;
      if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, 'utf8')));
    }
    maps.set(url, map);
  }
  return maps.get(url) ?? null;
}

/** `file:line` (1-based) of a 0-based position in `url`, through its source map if there is one. */
function place(url: string, line: number, column: number): string {
  if (url === '') return '';
  const map = sourceMapOf(url);
  if (map !== null) {
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    if (entry.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith('file://')
        ? fileURLToPath(entry.originalSource)
        : entry.originalSource;
      return `${shorten(source)}:${entry.originalLine + 1}`;
    }
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return `${shorten(path)}:${line + 1}`;
}

function shorten(path: string): string {
  if (path.startsWith('node:')) return path;
  const rel = relative(
    root,
    path.replace(/^.*?(\/(?:src|stores|bench|node_modules)\/)/, `${root}$1`.replace(/\/\//g, '/')),
  );
  return rel.replace(/^(\.\.\/)+/, '');
}

export interface Summary {
  wallMs: number;
  samples: number;
  self: Array<[string, number]>;
  total: Array<[string, number]>;
  lines: Array<[string, number]>;
}

export function summarize(file: string, filter = ''): Summary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const names = new Map<number, string>();
  const nameOf = (node: ProfileNode) => {
    let name = names.get(node.id);
    if (name === undefined) {
      const { functionName, url, lineNumber, columnNumber } = node.callFrame;
      name = `${functionName || '(anonymous)'} ${place(url, lineNumber, columnNumber)}`.trim();
      names.set(node.id, name);
    }
    return name;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const lines = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id) as ProfileNode;
    const name = nameOf(node);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = nameOf(byId.get(at) as ProfileNode);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
    // Hot lines: split the node's self time over its position ticks.
    const ticks = node.positionTicks ?? [];
    const sum = ticks.reduce((acc, tick) => acc + tick.ticks, 0);
    for (const tick of ticks) {
      const where = place(node.callFrame.url, tick.line - 1, 0);
      if (where === '') continue;
      const key = `${where} (${node.callFrame.functionName || 'anonymous'})`;
      lines.set(key, (lines.get(key) ?? 0) + (us * tick.ticks) / sum);
    }
  }
  const sorted = (map: Map<string, number>) =>
    [...map.entries()].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1]);
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    samples: profile.samples.length,
    self: sorted(self),
    total: sorted(total),
    lines: sorted(lines),
  };
}

export function printSummary(file: string, top = 30, filter = ''): void {
  const summary = summarize(file, filter);
  console.log(`${file}: ${summary.wallMs.toFixed(0)} ms profiled, ${summary.samples} samples`);
  const print = (title: string, rows: Array<[string, number]>) => {
    console.log(`\n${title}`);
    for (const [k, us] of rows.slice(0, top)) {
      console.log(
        `${(us / 1000).toFixed(1).padStart(9)} ms ${((us / 1000 / summary.wallMs) * 100).toFixed(1).padStart(5)}%  ${k}`,
      );
    }
  };
  print('self time by function', summary.self);
  print('inclusive time by function', summary.total);
  print('self time by source line', summary.lines);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const file = args.find(
    (arg, i) => !arg.startsWith('--') && !['--top', '--filter'].includes(args[i - 1] ?? ''),
  );
  if (file === undefined) {
    console.error('usage: profile-summary.ts <file.cpuprofile> [--top N] [--filter text]');
    process.exit(1);
  }
  const option = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  printSummary(file, Number(option('--top') ?? 30), option('--filter') ?? '');
}
