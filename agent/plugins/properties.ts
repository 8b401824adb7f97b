// Java-style .properties files (instructions.properties, modules.properties): `key = value` or `key: value`,
// `#`/`!` comments, blank lines ignored. Line continuations and escapes are not used by Roboconf's recipes.

export function parseProperties (text: string): Map<string, string> {
  const entries = new Map<string, string>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue
    const separator = line.search(/[=:]/)
    if (separator < 0) entries.set(line, '')
    else entries.set(line.slice(0, separator).trim(), line.slice(separator + 1).trim())
  }
  return entries
}
