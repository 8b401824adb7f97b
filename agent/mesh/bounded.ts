// Bounded caches for what peers can make an agent keep: the least recently used entries go first.

/** A Map keeping its `max` most recently used entries: reading (get) or writing an entry makes it the newest. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>()

  /** `onEvict` is called for each entry pushed out by a newer one (not for delete). */
  constructor (private readonly max: number, private readonly onEvict?: (k: K, value: V) => void) {}

  get size (): number {
    return this.map.size
  }

  /** Whether the key is held; does not make it the newest. */
  has (k: K): boolean {
    return this.map.has(k)
  }

  delete (k: K): boolean {
    return this.map.delete(k)
  }

  /** Oldest first; iterating does not refresh them. */
  entries (): IterableIterator<[K, V]> {
    return this.map.entries()
  }

  keys (): IterableIterator<K> {
    return this.map.keys()
  }

  values (): IterableIterator<V> {
    return this.map.values()
  }

  /** The value without making it the newest. */
  peek (k: K): V | undefined {
    return this.map.get(k)
  }

  get (k: K): V | undefined {
    const value = this.map.get(k)
    if (value !== undefined) {
      this.map.delete(k)
      this.map.set(k, value)
    }
    return value
  }

  set (k: K, value: V): void {
    this.map.delete(k)
    this.map.set(k, value)
    // A Map iterates in insertion order: the first key is the least recently used.
    if (this.map.size > this.max) {
      const [oldest, old] = this.map.entries().next().value as [K, V]
      this.map.delete(oldest)
      this.onEvict?.(oldest, old)
    }
  }
}
