/**
 * vitest globalSetup: asks once whether the PostgreSQL test server answers and hands the answer to every test
 * file (`inject('postgresUnreachable')`). Unreachable, the PostgreSQL tests are skipped with one line saying why;
 * under `CI=true` an unreachable server fails the run instead.
 */
import type { TestProject } from 'vitest/node';
import { PG_URL, unreachableReason } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the PostgreSQL test server cannot be reached, or null when it can. */
    postgresUnreachable: string | null;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const reason = await unreachableReason();
  if (reason !== null) {
    const where = PG_URL.replace(/:[^:@/]*@/, ':***@');
    if (process.env.CI === 'true')
      throw new Error(`CI=true and the PostgreSQL test server ${where} cannot be reached: ${reason}`);
    console.warn(
      `PostgreSQL tests skipped: ${where} cannot be reached (${reason}); set KAIROS_PG_URL to run them`,
    );
  }
  project.provide('postgresUnreachable', reason);
}
