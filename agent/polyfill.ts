// libp2p 3 calls Promise.withResolvers, which Node 20 lacks (V8 11.3). Must run before libp2p is imported.
type Resolvers<T> = { promise: Promise<T>, resolve: (v: T | PromiseLike<T>) => void, reject: (e?: unknown) => void }
const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T> (): Resolvers<T> {
    let resolve!: Resolvers<T>['resolve']
    let reject!: Resolvers<T>['reject']
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

// libp2p (peer store, peer records) sorts addresses, protocol names and metadata keys with localeCompare, only to keep
// them in one canonical order. Without locales or options, the agent compares code units instead: the first
// localeCompare makes V8 open ICU's collator, which maps 2.1 MB more of the node binary's ICU data and code into every
// agent (10-agent chain: RSS 68.7 -> 66.2 MB per agent, docs/tuning.md). With locales or options, ICU still compares.
const icuLocaleCompare = String.prototype.localeCompare
String.prototype.localeCompare = function localeCompare (this: string, that: string, locales?: string | string[], options?: Intl.CollatorOptions): number {
  if (locales !== undefined || options !== undefined) return icuLocaleCompare.call(this, that, locales, options)
  const a = String(this)
  const b = String(that)
  return a < b ? -1 : a > b ? 1 : 0
}
export {}
