/** What a heap's values carry: their place in the heap, so that any one can be removed in O(log n). */
export interface HeapPosition {
  /** The value's index in the heap holding it; -1 (or stale) when it is in none. */
  heapIndex: number;
}

/**
 * A binary min-heap of (key, value) pairs: O(log n) push, pop and removal of any value, O(1) peek. Each value
 * records where it is (`heapIndex`), so a removed or changed entry leaves nothing stale behind: the heap holds
 * exactly what was pushed and not yet popped or removed.
 */
export class MinHeap<T extends HeapPosition> {
  /** Keys and values side by side; `keys[i]` orders `values[i]`, and `values[i].heapIndex === i`. */
  #keys: number[] = [];
  #values: T[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#keys.length;
  }

  /** Adds `value` under `key` (a value already in this heap must be removed first). */
  push(key: number, value: T): void {
    this.#keys.push(key);
    this.#values.push(value);
    this.#siftUp(this.#keys.length - 1, key, value);
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
    const top = this.#values[0];
    if (top !== undefined) this.#removeAt(0);
    return top;
  }

  /** Removes `value` if this heap holds it (else nothing). */
  remove(value: T): void {
    const index = value.heapIndex;
    if (index >= 0 && this.#values[index] === value) this.#removeAt(index);
  }

  /** Removes every entry (O(1): their `heapIndex` goes stale, which `remove` tells by identity). */
  clear(): void {
    this.#keys = [];
    this.#values = [];
  }

  /** Takes the entry at `index` out, filling its place with the last entry. */
  #removeAt(index: number): void {
    const keys = this.#keys;
    const values = this.#values;
    (values[index] as T).heapIndex = -1;
    const lastKey = keys.pop() as number;
    const lastValue = values.pop() as T;
    if (index === keys.length) return;
    if (index > 0 && (keys[(index - 1) >> 1] as number) > lastKey) this.#siftUp(index, lastKey, lastValue);
    else this.#siftDown(index, lastKey, lastValue);
  }

  /** Places (key, value) at `index` or above it, moving larger parents down. */
  #siftUp(start: number, key: number, value: T): void {
    const keys = this.#keys;
    const values = this.#values;
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((keys[parent] as number) <= key) break;
      this.#place(index, keys[parent] as number, values[parent] as T);
      index = parent;
    }
    this.#place(index, key, value);
  }

  /** Places (key, value) at `index` or below it, moving smaller children up. */
  #siftDown(start: number, key: number, value: T): void {
    const keys = this.#keys;
    const values = this.#values;
    const size = keys.length;
    let index = start;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && (keys[child + 1] as number) < (keys[child] as number)) child++;
      if ((keys[child] as number) >= key) break;
      this.#place(index, keys[child] as number, values[child] as T);
      index = child;
    }
    this.#place(index, key, value);
  }

  #place(index: number, key: number, value: T): void {
    this.#keys[index] = key;
    this.#values[index] = value;
    value.heapIndex = index;
  }
}
