// Java .properties files (descriptor, target definitions): `key = value`, `key: value` or `key value`, `#`/`!`
// comments, `\` line continuations and escapes. Each key remembers the line where it starts.

export interface PropertyEntry { value: string, line: number }

function unescape (text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16))
    return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[e] ?? e
  })
}

function endsWithContinuation (line: string): boolean {
  let backslashes = 0
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) backslashes++
  return backslashes % 2 === 1
}

/** Parses properties text; later keys override earlier ones, as in java.util.Properties. */
export function parseProperties (text: string): Map<string, PropertyEntry> {
  const result = new Map<string, PropertyEntry>()
  const lines = text.split(/\r\n|\r|\n/)
  for (let i = 0; i < lines.length; i++) {
    const start = i
    let logical = lines[i].replace(/^[ \t\f]+/, '')
    if (logical === '' || logical.startsWith('#') || logical.startsWith('!')) continue
    while (endsWithContinuation(logical) && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + lines[++i].replace(/^[ \t\f]+/, '')
    }
    if (endsWithContinuation(logical)) logical = logical.slice(0, -1)
    let k = 0
    while (k < logical.length && !/[=:\s]/.test(logical[k])) k += logical[k] === '\\' ? 2 : 1
    const key = unescape(logical.slice(0, k))
    let rest = logical.slice(k).replace(/^[ \t\f]+/, '')
    if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1).replace(/^[ \t\f]+/, '')
    result.set(key, { value: unescape(rest), line: start + 1 })
  }
  return result
}
