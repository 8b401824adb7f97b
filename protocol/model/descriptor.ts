// descriptor/application.properties (reference §2.4): keys, the legacy `application-` prefix, external exports.
import { PATTERN_APP_NAME, PATTERN_ID, PATTERN_VERSION } from './constants.js'
import { modelError } from './errors.js'
import { parseProperties } from './properties.js'
import type { ApplicationDescriptor, ModelError } from './types.js'

export const DESCRIPTOR_PATH = 'descriptor/application.properties'

/** Removes accents (é -> e) before the name check, as Roboconf does. */
function withoutAccents (value: string): string {
  return value.normalize('NFD').replace(/[\u0300-\u036f]/g, '')
}

export interface DescriptorResult {
  descriptor: ApplicationDescriptor
  errors: ModelError[]
  /** Line of each key found (canonical names: name, version, exports...). */
  lines: Record<string, number>
}

/** Parses and checks a descriptor's text. */
export function parseDescriptor (text: string, file = DESCRIPTOR_PATH): DescriptorResult {
  const props = parseProperties(text)
  const lines: Record<string, number> = {}
  const get = (key: string, legacy: boolean): string | undefined => {
    const entry = props.get(key) ?? (legacy ? props.get(`application-${key}`) : undefined)
    if (entry === undefined) return undefined
    lines[key] = entry.line
    const value = entry.value.trim()
    return value === '' ? undefined : value
  }
  const errors: ModelError[] = []
  const at = (code: string, key: string, detail = ''): void => { errors.push(modelError(code, file, lines[key], detail)) }

  const name = get('name', true)
  const version = get('version', true)
  const description = get('description', true)
  const dslId = get('dsl-id', true)
  const graphEntryPoint = get('graph-entry-point', false)
  const instanceEntryPoint = get('instance-entry-point', false)
  const exportsPrefix = get('exports-prefix', false)
  const exportsValue = get('exports', false)
  const tags = get('tags', false)

  const descriptor: ApplicationDescriptor = {
    name: name ?? '',
    version: version ?? '',
    graphEntryPoint: graphEntryPoint ?? '',
    externalExports: {},
    tags: tags === undefined ? [] : tags.split(',').map(s => s.trim()).filter(s => s !== '')
  }
  if (description !== undefined) descriptor.description = description
  if (dslId !== undefined) descriptor.dslId = dslId
  if (instanceEntryPoint !== undefined) descriptor.instanceEntryPoint = instanceEntryPoint
  if (exportsPrefix !== undefined) descriptor.externalExportsPrefix = exportsPrefix

  if (name === undefined) at('RM_MISSING_APPLICATION_NAME', 'name')
  else if (!PATTERN_APP_NAME.test(withoutAccents(name))) at('RM_INVALID_APPLICATION_NAME', 'name', name)
  if (version === undefined) at('RM_MISSING_APPLICATION_VERSION', 'version')
  else if (!PATTERN_VERSION.test(version)) at('RM_INVALID_APPLICATION_VERSION', 'version', version)
  if (dslId === undefined) at('RM_MISSING_APPLICATION_DSL_ID', 'dsl-id')
  if (graphEntryPoint === undefined) at('RM_MISSING_APPLICATION_GEP', 'graph-entry-point')

  let invalidExports = false
  for (const part of (exportsValue ?? '').split(',').map(s => s.trim()).filter(s => s !== '')) {
    const m = /^(\S+)\s+as\s+(\S+)$/i.exec(part)
    if (m === null) {
      if (!invalidExports) at('PROJ_INVALID_EXTERNAL_EXPORTS', 'exports', part)
      invalidExports = true
      continue
    }
    if (!PATTERN_ID.test(m[1])) at('RM_INVALID_VARIABLE_NAME', 'exports', m[1])
    if (!PATTERN_ID.test(m[2])) at('RM_INVALID_VARIABLE_NAME', 'exports', m[2])
    descriptor.externalExports[m[1]] = m[2]
  }
  if ((Object.keys(descriptor.externalExports).length > 0 || invalidExports) && exportsPrefix === undefined) {
    at('RM_MISSING_APPLICATION_EXPORT_PREFIX', 'exports')
  }
  return { descriptor, errors, lines }
}
