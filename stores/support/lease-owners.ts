/**
 * Internal to kairos' file-backed stores (`FileStore`, `SQLiteStore`), not a public API: the owners (scheduler
 * ids) that acquired tasks through one store instance, whose task leases end when it closes
 * (`TaskStore.close`), so that a task parked by a closing scheduler (`holdUntil`) is free at once, not when
 * its hold expires.
 */

/** The owners that acquired tasks through one store instance since it last closed. */
export class LeaseOwners {
  readonly #owners = new Set<string>();

  /** Notes that `owner` acquired tasks through this instance (at `acquireDueTasks`). */
  add(owner: string): void {
    this.#owners.add(owner);
  }

  /**
   * At `close()`: runs the store's closing work `close` with the owners noted (it ends their task leases when
   * there are any), then forgets them, whether `close` succeeded or not.
   */
  async close(close: (owners: ReadonlySet<string>) => Promise<void>): Promise<void> {
    try {
      await close(new Set(this.#owners));
    } finally {
      this.#owners.clear();
    }
  }
}
