// A map keyed by two strings (application and path, template name and version): a typed key, where strings
// joined with a separator would let one part's text pass for the other's.

export class PairMap<V> {
  private readonly outer = new Map<string, Map<string, V>>()

  get (first: string, second: string): V | undefined {
    return this.outer.get(first)?.get(second)
  }

  set (first: string, second: string, value: V): void {
    let inner = this.outer.get(first)
    if (inner === undefined) this.outer.set(first, inner = new Map())
    inner.set(second, value)
  }

  delete (first: string, second: string): boolean {
    const inner = this.outer.get(first)
    if (inner === undefined) return false
    const deleted = inner.delete(second)
    if (inner.size === 0) this.outer.delete(first)
    return deleted
  }

  /** The values under `first`, in insertion order. */
  valuesOf (first: string): V[] {
    return [...(this.outer.get(first)?.values() ?? [])]
  }

  /** Every value, grouped by `first` in insertion order. */
  values (): V[] {
    return [...this.outer.values()].flatMap(inner => [...inner.values()])
  }
}
