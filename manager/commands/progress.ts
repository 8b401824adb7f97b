// Progress of long work (deploying many machines): on a terminal, one live line under the printed lines with the
// counts by state and the elapsed time; elsewhere, only the plain lines (logs and pipes get no control codes).

/** How often the live line is redrawn for the elapsed time, in milliseconds. */
export const PROGRESS_REDRAW_MS = 250

export interface Progress {
  /** The state of one followed item changed. */
  update: (item: string, state: string) => void
  /** Prints a line above the live line (or alone when not on a terminal). */
  log: (line: string) => void
  /** Removes the live line; later output is plain. */
  stop: () => void
}

export interface ProgressOptions {
  /** `start LAMP` */
  title: string
  /** Number of items followed. */
  total: number
  /** Default process.stdout; the live line only when it is a terminal. */
  stream?: NodeJS.WriteStream
}

/** `start LAMP: 8 instances, 3 DEPLOYED_STARTED, 2 DEPLOYING, 3 unknown, 12.3 s` */
export function progressSummary (title: string, total: number, states: Map<string, string>, elapsedMs: number): string {
  const counts = new Map<string, number>()
  for (const state of states.values()) counts.set(state, (counts.get(state) ?? 0) + 1)
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([state, n]) => `${n} ${state}`)
  const unknown = total - states.size
  if (unknown > 0) parts.push(`${unknown} unknown`)
  return `${title}: ${total} instance${total === 1 ? '' : 's'}${parts.length > 0 ? ', ' + parts.join(', ') : ''}, ${(elapsedMs / 1000).toFixed(1)} s`
}

export function createProgress (options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stdout
  const live = stream.isTTY === true
  const states = new Map<string, string>()
  const start = performance.now()
  let shown = false
  const clear = (): void => { if (shown) stream.write('\r\u001b[2K'); shown = false }
  const draw = (): void => {
    if (!live) return
    const columns = stream.columns > 0 ? stream.columns : 80
    const text = progressSummary(options.title, options.total, states, performance.now() - start)
    stream.write('\r\u001b[2K' + (text.length >= columns ? text.slice(0, columns - 1) : text))
    shown = true
  }
  const timer = live ? setInterval(draw, PROGRESS_REDRAW_MS) : undefined
  timer?.unref()
  draw()
  return {
    update (item, state) {
      states.set(item, state)
      draw()
    },
    log (line) {
      clear()
      stream.write(line + '\n')
      draw()
    },
    stop () {
      if (timer !== undefined) clearInterval(timer)
      clear()
    }
  }
}
