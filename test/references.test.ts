// FunctionResolver's module root: a module reference (a store row is code) may name only a file inside the
// real path of `moduleRoot`, never one in node_modules; checked at store time, before every import, and by
// `checkReference` (for executors that import in worker threads). Temp trees with symlinks, no fixtures.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SerializationError, ValueError } from '../src/index.js';
import { FunctionResolver } from '../src/references.js';

/** The temp tree: `root/` (the module root) and `outside/` next to it. */
let base: string;
let root: string;
let outside: string;
/** Written by every module that must never be imported. */
let marker: string;

/** A module whose import leaves the marker file behind. */
function trapModule(): string {
  return [
    "import { writeFileSync } from 'node:fs';",
    `writeFileSync(${JSON.stringify(marker)}, import.meta.url);`,
    "export function f() { return 'must not run'; }",
    '',
  ].join('\n');
}

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'kairos-refs-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  marker = join(base, 'imported.marker');
  await mkdir(join(root, 'jobs'), { recursive: true });
  await mkdir(join(root, 'node_modules', 'x'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'jobs', 'ok.mjs'), "export function f() { return 'inside'; }\n");
  await writeFile(join(root, 'node_modules', 'x', 'y.mjs'), trapModule());
  await writeFile(join(outside, 'evil.mjs'), trapModule());
  await symlink(join(outside, 'evil.mjs'), join(root, 'linked.mjs'));
  await symlink(outside, join(root, 'linkdir'), 'dir');
});
afterEach(() => {
  expect(existsSync(marker), 'a module outside the root was imported').toBe(false);
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** `path` as a reference relative to the working directory (how module references are resolved). */
function fromCwd(path: string, exportName = 'f'): string {
  return `${relative(process.cwd(), path)}#${exportName}`;
}

/** Expects `ref` to be refused at store time, by `checkReference`, and by `resolve` (which imports nothing). */
async function expectRefused(resolver: FunctionResolver, ref: string, why: RegExp): Promise<void> {
  expect(() => resolver.toStoredFunction(ref, 't1', true)).toThrow(SerializationError);
  expect(() => resolver.toStoredFunction(ref, 't1', false)).toThrow(SerializationError);
  expect(() => resolver.checkReference(ref)).toThrow(SerializationError);
  await expect(resolver.resolve(ref)).rejects.toThrow(SerializationError);
  for (const attempt of [
    () => resolver.toStoredFunction(ref, 't1', true),
    () => resolver.checkReference(ref),
  ]) {
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(JSON.stringify(ref));
    expect(message).toContain(root);
    expect(message).toMatch(why);
  }
  await expect(resolver.resolve(ref)).rejects.toThrow(why);
}

describe('FunctionResolver: module references must stay inside moduleRoot', () => {
  it('accepts and imports a relative reference inside the root (moduleRoot absolute or cwd-relative)', async () => {
    for (const moduleRoot of [root, relative(process.cwd(), root)]) {
      const resolver = new FunctionResolver({}, { moduleRoot });
      const ref = fromCwd(join(root, 'jobs', 'ok.mjs'));
      expect(resolver.toStoredFunction(ref, 't1', true)).toBe(ref);
      expect(() => resolver.checkReference(ref)).not.toThrow();
      expect((await resolver.resolve(ref))()).toBe('inside');
    }
  });

  it('refuses a reference that escapes the root with ../', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    const ref = `${relative(process.cwd(), root)}/jobs/../../outside/evil.mjs#f`;
    await expectRefused(resolver, ref, /outside the module root/);
  });

  it('refuses an absolute path outside the root, and accepts one inside it', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    await expectRefused(resolver, `${join(outside, 'evil.mjs')}#f`, /outside the module root/);
    const inside = `${join(root, 'jobs', 'ok.mjs')}#f`;
    expect(resolver.toStoredFunction(inside, 't1', true)).toBe(inside);
    expect(() => resolver.checkReference(inside)).not.toThrow();
    expect((await resolver.resolve(inside))()).toBe('inside');
  });

  it('refuses a file: URL outside the root, and accepts one inside it', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    const evil = `${pathToFileURL(join(outside, 'evil.mjs')).href}#f`;
    await expectRefused(resolver, evil, /outside the module root/);
    const escaping = `${pathToFileURL(join(root, 'jobs')).href}/../../outside/evil.mjs#f`;
    await expectRefused(resolver, escaping, /outside the module root/);
    const inside = `${pathToFileURL(join(root, 'jobs', 'ok.mjs')).href}#f`;
    expect(resolver.toStoredFunction(inside, 't1', true)).toBe(inside);
    expect((await resolver.resolve(inside))()).toBe('inside');
  });

  it('refuses a symlink inside the root that points outside it (file, directory, and a new file under it)', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    await expectRefused(resolver, `${join(root, 'linked.mjs')}#f`, /outside the module root/);
    await expectRefused(resolver, fromCwd(join(root, 'linkdir', 'evil.mjs')), /outside the module root/);
    await expectRefused(resolver, `${join(root, 'linkdir', 'later', 'x.mjs')}#f`, /outside the module root/);
  });

  it('checks the symlinks again right before importing: a link swapped after addTask is refused', async () => {
    const link = join(root, 'swap.mjs');
    await symlink(join(root, 'jobs', 'ok.mjs'), link);
    try {
      const resolver = new FunctionResolver({}, { moduleRoot: root });
      const ref = `${link}#f`;
      expect(resolver.toStoredFunction(ref, 't1', true)).toBe(ref);
      await unlink(link);
      await symlink(join(outside, 'evil.mjs'), link);
      expect(() => resolver.checkReference(ref)).toThrow(/outside the module root/);
      await expect(resolver.resolve(ref)).rejects.toThrow(SerializationError);
    } finally {
      await rm(link, { force: true });
    }
  });

  it('checkReference hands a worker the real path it checked, so a link swapped afterwards cannot redirect it', async () => {
    const link = join(root, 'swap2.mjs');
    await symlink(join(root, 'jobs', 'ok.mjs'), link);
    try {
      const resolver = new FunctionResolver({ named: () => 1 }, { moduleRoot: root });
      const checked = resolver.checkReference(`${link}#f`);
      expect(checked).toBe(`${pathToFileURL(join(root, 'jobs', 'ok.mjs')).href}#f`);
      await unlink(link);
      await symlink(join(outside, 'evil.mjs'), link);
      // What the worker got still names the file that was checked.
      expect(checked).not.toContain('swap2');
      expect(resolver.checkReference('named')).toBe('named');
    } finally {
      await rm(link, { force: true });
    }
  });

  it('follows a dangling symlink: a new file whose link points outside is refused at store time', async () => {
    const link = join(root, 'dangling.mjs');
    await symlink(join(outside, 'not-yet.mjs'), link);
    try {
      const resolver = new FunctionResolver({}, { moduleRoot: root });
      expect(() => resolver.toStoredFunction(`${link}#f`, 't1', true)).toThrow(/outside the module root/);
    } finally {
      await rm(link, { force: true });
    }
  });

  it('refuses node_modules even inside the root', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    await expectRefused(resolver, fromCwd(join(root, 'node_modules', 'x', 'y.mjs')), /node_modules/);
    await expectRefused(resolver, `${join(root, 'jobs', 'node_modules', 'later.mjs')}#f`, /node_modules/);
    const defaultRoot = new FunctionResolver();
    expect(() => defaultRoot.toStoredFunction('./node_modules/x/y.js#f', 't1', true)).toThrow(/node_modules/);
    expect(() => defaultRoot.checkReference('./node_modules/vitest/package.json#f')).toThrow(
      SerializationError,
    );
  });

  it('accepts at store time a file inside the root that does not exist yet; importing it then fails', async () => {
    const resolver = new FunctionResolver({}, { moduleRoot: root });
    const ref = fromCwd(join(root, 'jobs', 'later', 'deploy.mjs'));
    expect(resolver.toStoredFunction(ref, 't1', true)).toBe(ref);
    expect(() => resolver.checkReference(ref)).not.toThrow();
    await expect(resolver.resolve(ref)).rejects.toThrow(/cannot import module reference/);
  });

  it('defaults the root to the working directory', () => {
    const resolver = new FunctionResolver();
    const ref = './test/support/worker-tasks.ts#crunch';
    expect(resolver.toStoredFunction(ref, 't1', true)).toBe(ref);
    expect(() => resolver.toStoredFunction(`${join(outside, 'evil.mjs')}#f`, 't1', true)).toThrow(
      new RegExp(`outside the module root '${process.cwd()}'`),
    );
    expect(() => resolver.toStoredFunction('../../../../tmp/x.js#y', 't1', true)).toThrow(SerializationError);
  });

  it('leaves registered functions alone, whatever their name looks like', async () => {
    const report = () => 'report';
    const resolver = new FunctionResolver({ report, '../../tmp/x.js#y': report }, { moduleRoot: root });
    expect(resolver.toStoredFunction(report, 't1', true)).toBe('report');
    expect(resolver.toStoredFunction('../../tmp/x.js#y', 't1', true)).toBe('../../tmp/x.js#y');
    expect(() => resolver.checkReference('report')).not.toThrow();
    expect(() => resolver.checkReference(report)).not.toThrow();
    expect(await resolver.resolve('report')).toBe(report);
    expect(() => resolver.checkReference('renamed')).toThrow(SerializationError);
  });

  it('validates moduleRoot once, naming the bad value', () => {
    for (const bad of [42, '', null, {}]) {
      expect(() => new FunctionResolver({}, { moduleRoot: bad as string })).toThrow(ValueError);
      expect(() => new FunctionResolver({}, { moduleRoot: bad as string })).toThrow(/moduleRoot/);
    }
    const missing = join(base, 'no-such-dir');
    expect(() => new FunctionResolver({}, { moduleRoot: missing })).toThrow(ValueError);
    expect(() => new FunctionResolver({}, { moduleRoot: missing })).toThrow(
      new RegExp(`moduleRoot "${missing}".*does not exist`),
    );
    const file = join(root, 'jobs', 'ok.mjs');
    expect(() => new FunctionResolver({}, { moduleRoot: file })).toThrow(
      new RegExp(`moduleRoot "${file}" is not a directory`),
    );
    expect(() => new FunctionResolver({}, { moduleRot: root } as unknown as { moduleRoot: string })).toThrow(
      /unknown option 'moduleRot'/,
    );
    expect(() => new FunctionResolver({}, 'x' as unknown as { moduleRoot: string })).toThrow(ValueError);
  });
});
