// Writers for graph and instances files. Parsed files come back unchanged through parser.serializeFile() (comments kept);
// instance trees and graph definitions built in memory are written in Roboconf's usual layout, e.g. the DM's
// persisted runtime instances with `instance-state` and `instance-data`.
import type { GraphDefinition, TypeDefinition } from './graph.js'
import type { ExportDeclaration } from './syntax.js'
import type { Instance } from './types.js'


/** A value the DSL cannot carry (a '#', a line break...). */
export class UnwritableValueError extends Error {
  constructor (where: string, value: string, why: string) {
    super(`cannot write ${where} = ${JSON.stringify(value)}: ${why}`)
    this.name = 'UnwritableValueError'
  }
}

/** A property value as the parser will read it back: quoted when it holds ';', ',' or edge blanks. */
function propertyValue (where: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new UnwritableValueError(where, value, 'values are single-line')
  if (value.includes('#')) throw new UnwritableValueError(where, value, "'#' always starts a comment in Roboconf's DSL")
  const needsQuotes = value.includes(';') || value !== value.trimStart() || (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
  if (!needsQuotes) return value
  if (value.includes('"')) throw new UnwritableValueError(where, value, 'a quoted value cannot hold a double quote')
  return `"${value}"`
}

function safeDataEntry (key: string, value: string): boolean {
  return !/[,=;#"\r\n]/.test(key + value) && key.trim() === key && value.trim() === value && key !== ''
}

function writeInstance (instance: Instance, depth: number, lines: string[]): void {
  const indent = '\t'.repeat(depth)
  const inner = `${indent}\t`
  lines.push(`${indent}instance of ${instance.component} {`)
  lines.push(`${inner}name: ${propertyValue(`${instance.path} name`, instance.name)};`)
  if (instance.channels.length > 0) lines.push(`${inner}channels: ${instance.channels.join(', ')};`)
  for (const [name, value] of Object.entries(instance.overriddenExports)) {
    if (!/^[^:\s#]+$/.test(name)) throw new UnwritableValueError(`${instance.path} variable`, name, 'invalid variable name')
    lines.push(`${inner}${name}: ${propertyValue(`${instance.path} ${name}`, value)};`)
  }
  if (instance.status !== undefined) lines.push(`${inner}instance-state: ${instance.status};`)
  const data = Object.entries(instance.data)
  const simple = data.filter(([k, v]) => safeDataEntry(k, v))
  if (simple.length > 0) lines.push(`${inner}instance-data: ${simple.map(([k, v]) => `${k} = ${v}`).join(', ')};`)
  for (const [key, value] of data.filter(([k, v]) => !safeDataEntry(k, v))) {
    if (!/^[^:\s#]+$/.test(key)) throw new UnwritableValueError(`${instance.path} data`, key, 'invalid data key')
    lines.push(`${inner}data.${key}: ${propertyValue(`${instance.path} data.${key}`, value)};`)
  }
  for (const child of instance.children) {
    lines.push('')
    writeInstance(child, depth + 1, lines)
  }
  lines.push(`${indent}}`)
}

/** Writes instance trees as an instances file; parseInstances() reads it back to the same trees. */
export function writeInstances (rootInstances: Instance[]): string {
  const lines: string[] = []
  rootInstances.forEach((root, index) => {
    if (index > 0) lines.push('')
    writeInstance(root, 0, lines)
  })
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

function exportDeclaration (d: ExportDeclaration): string {
  const random = d.randomKind === undefined ? '' : `random[${d.randomKind}] `
  if (d.value === null) return `${random}${d.name}`
  if (d.value.includes('#') || d.value.includes('"') || /[\r\n]/.test(d.value)) {
    throw new UnwritableValueError(`export ${d.name}`, d.value, "'#', '\"' and line breaks cannot appear in an exported value")
  }
  const plain = d.value !== '' && !/[,;]/.test(d.value) && d.value.trim() === d.value
  return `${random}${d.name} = ${plain ? d.value : `"${d.value}"`}`
}

function writeType (t: TypeDefinition, lines: string[]): void {
  if (t.description !== undefined) for (const l of t.description.split('\n')) lines.push(`# ${l}`)
  lines.push(t.kind === 'facet' ? `facet ${t.name} {` : `${t.name} {`)
  if (t.installer !== undefined) lines.push(`\tinstaller: ${t.installer};`)
  if (t.extends.length > 0) lines.push(`\textends: ${t.extends.join(', ')};`)
  if (t.facets.length > 0) lines.push(`\tfacets: ${t.facets.join(', ')};`)
  if (t.children.length > 0) lines.push(`\tchildren: ${t.children.join(', ')};`)
  if (t.exports.length > 0) lines.push(`\texports: ${t.exports.map(exportDeclaration).join(', ')};`)
  if (t.imports.length > 0) {
    lines.push(`\timports: ${t.imports.map(i => `${i.external ? 'external ' : ''}${i.name}${i.optional ? ' (optional)' : ''}`).join(', ')};`)
  }
  lines.push('}')
}

/** Writes graph definitions (components then facets) as one graph file. */
export function writeGraph (graph: GraphDefinition): string {
  const lines: string[] = []
  for (const t of [...graph.components.values(), ...graph.facets.values()]) {
    if (lines.length > 0) lines.push('')
    writeType(t, lines)
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}
