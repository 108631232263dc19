/**
 * CPU profiles of a measured window only (e.g. from the due instant to the last fire), written when
 * BENCH_PROFILE_DIR is set (bench/profile.ts sets it); otherwise these calls do nothing and cost nothing.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
let session: Session | null = null;

/** Starts the profiler (sampling every 100 µs). */
export async function startWindow(): Promise<void> {
  if (dir === undefined) return;
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}

/** Stops the profiler and writes `<name>.cpuprofile`. */
export async function stopWindow(name: string): Promise<void> {
  if (dir === undefined || session === null) return;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  session.disconnect();
  session = null;
}
