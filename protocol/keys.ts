// Keys made of several strings. A PairMap nests two maps (application and path, template name and version); a
// CompositeKey is one string for hot maps and sets, typed by its parts so that a key of one kind cannot be used for
// another, joined with NUL, which no part may hold (the wire's checks refuse control characters).

/** A key made of the strings `Parts`, joined; only `compositeKey` makes one and `partsOf` reads it back. */
export type CompositeKey<Parts extends readonly string[]> = string & { readonly __parts: Parts }

const SEPARATOR = '\u0000'

export function compositeKey<Parts extends readonly string[]> (...parts: Parts): CompositeKey<Parts> {
  return parts.join(SEPARATOR) as CompositeKey<Parts>
}

export function partsOf<Parts extends readonly string[]> (key: CompositeKey<Parts>): Parts {
  return key.split(SEPARATOR) as unknown as Parts
}

/** A map keyed by two strings. */

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

  /** Deletes every value under `first`. */
  deleteAll (first: string): void {
    this.outer.delete(first)
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
