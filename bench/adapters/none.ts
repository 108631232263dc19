/** No scheduler at all: the noise floor of the child process (S4's baseline). */
import type { Adapter } from './adapter.js';

export async function create(): Promise<Adapter> {
  return {
    name: 'none' as never,
    version: process.version,
    removeAllHow: '-',
    async start() {},
    once() {},
    nextRun() {
      return undefined;
    },
    remove() {},
    removeAll() {},
    async shutdown() {},
  };
}
