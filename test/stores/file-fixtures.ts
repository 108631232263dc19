/**
 * Fixtures of the tests of the file-backed stores (FileStore, SQLiteStore): paths made immutable for a test, and
 * the error a promise rejects with.
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';

/** Paths made immutable by a test (`chattr +i`), made mutable again by `restoreImmutables`. */
const immutables: string[] = [];

/**
 * Makes `target` immutable (`chattr +i`): even root can then not write, replace or rename it, nor create files
 * in it if it is a directory. Tests run as root, so permission bits stop nothing. False where chattr is missing
 * or unsupported. Call `restoreImmutables` after each test.
 */
export function makeImmutable(target: string): boolean {
  try {
    execFileSync('chattr', ['+i', target], { stdio: 'ignore' });
  } catch {
    return false;
  }
  immutables.push(target);
  return true;
}

/** Makes every path `makeImmutable` made immutable mutable again (in `afterEach`). */
export function restoreImmutables(): void {
  for (const target of immutables.splice(0)) execFileSync('chattr', ['-i', target]);
}

/** The error `promise` rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (reason: unknown) => reason as Error,
  );
}
