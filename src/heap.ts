/** A binary min-heap of (key, value) pairs: O(log n) push and pop, O(1) peek. */
export class MinHeap<T> {
  /** Keys and values side by side; `keys[i]` orders `values[i]`. */
  #keys: number[] = [];
  #values: T[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#keys.length;
  }

  /** Adds `value` under `key`. */
  push(key: number, value: T): void {
    const keys = this.#keys;
    const values = this.#values;
    let index = keys.length;
    keys.push(key);
    values.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((keys[parent] as number) <= key) break;
      keys[index] = keys[parent] as number;
      values[index] = values[parent] as T;
      index = parent;
    }
    keys[index] = key;
    values[index] = value;
  }

  /** The smallest key, or undefined when empty. */
  peekKey(): number | undefined {
    return this.#keys[0];
  }

  /** The value with the smallest key, or undefined when empty. */
  peek(): T | undefined {
    return this.#values[0];
  }

  /** Removes and returns the value with the smallest key. */
  pop(): T | undefined {
    const keys = this.#keys;
    const values = this.#values;
    if (keys.length === 0) return undefined;
    const top = values[0];
    const lastKey = keys.pop() as number;
    const lastValue = values.pop() as T;
    const size = keys.length;
    if (size > 0) {
      let index = 0;
      for (;;) {
        let child = 2 * index + 1;
        if (child >= size) break;
        if (child + 1 < size && (keys[child + 1] as number) < (keys[child] as number)) child++;
        if ((keys[child] as number) >= lastKey) break;
        keys[index] = keys[child] as number;
        values[index] = values[child] as T;
        index = child;
      }
      keys[index] = lastKey;
      values[index] = lastValue;
    }
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.#keys = [];
    this.#values = [];
  }
}
