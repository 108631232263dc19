// Run slots across store instances (processes, machines): concurrent claims for one task never exceed its
// maxInstances, because run_slot_ops locks each task it claims for until its transaction commits.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresStore } from '../../stores/postgres.js';
import { recordingContext } from '../stores/harness.js';
import { dropSchema, freshSchema, PG_URL } from '../support/postgres.js';

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore run slots, claimed at once', () => {
  const schema = freshSchema('kslots');
  const stores = Array.from({ length: 4 }, () => new PostgresStore({ connectionString: PG_URL, schema }));

  beforeAll(async () => {
    for (const store of stores) await store.start(recordingContext().context);
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await dropSchema(schema);
  });

  it('four instances claiming for one task at the same moment: exactly maxInstances claims succeed', async () => {
    const expiresAt = Date.now() + 60_000;
    for (let round = 0; round < 30; round++) {
      const taskId = `task-${round}`;
      const maxInstances = 1 + (round % 2);
      const claims = stores.flatMap((store, index) =>
        [0, 1].map((n) =>
          store.claimRunSlot({
            taskId,
            runId: `${taskId}-${index}-${n}`,
            owner: `o${index}`,
            expiresAt,
            maxInstances,
          }),
        ),
      );
      const granted = (await Promise.all(claims)).filter(Boolean).length;
      expect(granted, `round ${round}`).toBe(maxInstances);
    }
  });

  it("a burst of 40,000 claims in one tick fits the server's lock table (max_locks_per_transaction): at most 128 advisory locks a batch", async () => {
    const expiresAt = Date.now() + 60_000;
    const store = stores[0] as PostgresStore;
    const claims = Array.from({ length: 40_000 }, (_, index) =>
      store.claimRunSlot({
        taskId: `burst-${index}`,
        runId: `burst-run-${index}`,
        owner: 'o',
        expiresAt,
        maxInstances: 1,
      }),
    );
    const granted = await Promise.all(claims);
    expect(granted.every(Boolean)).toBe(true);
  });
});
