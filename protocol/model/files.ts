// Reading a model entry point and the files it imports. Imports resolve from the graph/ or instances/ folder,
// never from the importing file's folder (reference §2.2); each file is read once, so import cycles are harmless.
import { capErrors, hasSevere, modelError } from './errors.js'
import { parseFile, type FileDefinition, type FileKind } from './parser.js'
import { validateBlocks } from './syntax.js'
import type { ModelError } from './types.js'

/** Reads a file relative to the template root: its text, or an error (missing, too large, not UTF-8). */
export type TextReader = (path: string) => { text: string } | { missing: true } | { error: ModelError }

/** `folder/uri` normalised; undefined when it leaves the folder (`../descriptor/...`). */
export function resolveImport (folder: string, uri: string): string | undefined {
  const parts: string[] = []
  for (const segment of `${folder}/${uri.trim()}`.split(/[\\/]+/)) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') parts.pop()
    else parts.push(segment)
  }
  const path = parts.join('/')
  return path.startsWith(`${folder}/`) ? path : undefined
}

export interface ImportedFiles {
  /** Parsed files without SEVERE errors, in reading order (the others are not processed further, as in Roboconf). */
  definitions: FileDefinition[]
  errors: ModelError[]
  /** Every file read, relative to the template root. */
  files: string[]
}

/**
 * Parses the entry point and, transitively, the files it imports. `kinds` are the file kinds accepted here;
 * another kind gives `wrongKind` (CO_NOT_A_GRAPH, CO_NOT_INSTANCES).
 */
export function readImportedFiles (entryPoint: string, folder: 'graph' | 'instances', read: TextReader,
  kinds: readonly FileKind[], wrongKind: string): ImportedFiles {
  const result: ImportedFiles = { definitions: [], errors: [], files: [] }
  const queue: Array<{ path: string, from?: { file: string, line: number, uri: string } }> = [{ path: entryPoint }]
  const seen = new Set([entryPoint])
  while (queue.length > 0) {
    const { path, from } = queue.shift()!
    const content = read(path)
    if ('missing' in content) {
      result.errors.push(modelError('CO_UNREACHABLE_FILE', from?.file ?? path, from?.line, from?.uri ?? path))
      continue
    }
    if ('error' in content) {
      result.errors.push(content.error)
      continue
    }
    result.files.push(path)
    const definition = parseFile(content.text, path)
    const errors = capErrors([...definition.errors, ...validateBlocks(definition)], path)
    if (!kinds.includes(definition.kind)) errors.push(modelError(wrongKind, path, undefined, path))
    result.errors.push(...errors)
    if (hasSevere(errors)) continue
    result.definitions.push(definition)
    for (const block of definition.blocks) {
      if (block.kind !== 'import') continue
      const target = resolveImport(folder, block.uri)
      if (target === undefined) {
        result.errors.push(modelError('CO_UNREACHABLE_FILE', path, block.line, block.uri))
      } else if (!seen.has(target)) {
        seen.add(target)
        queue.push({ path: target, from: { file: path, line: block.line, uri: block.uri } })
      }
    }
  }
  return result
}
