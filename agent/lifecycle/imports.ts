// The imports an agent's instances hold, by instance and prefix, and since when each is held.
import type { HeldImport, Import } from '../../protocol/messages.js'
import { isoTime } from '../../common/clock.js'

/** Imports of one instance: prefix -> exporting instance path -> import. */
export type InstanceImports = Map<string, Map<string, Import>>

/** Since when (ISO time) an instance's imports are held: prefix -> exporting instance path -> time. */
export type InstanceImportsSince = Map<string, Map<string, string>>

/** Imports of every instance, as saved: instance path -> prefix -> imports. */
export type ImportsSnapshot = Record<string, Record<string, Import[]>>

export function importStore (imports: Map<string, InstanceImports>, instancePath: string, prefix: string): Map<string, Import> {
  let byPrefix = imports.get(instancePath)
  if (byPrefix === undefined) imports.set(instancePath, byPrefix = new Map())
  let store = byPrefix.get(prefix)
  if (store === undefined) byPrefix.set(prefix, store = new Map())
  return store
}

export function sinceStore (importsSince: Map<string, InstanceImportsSince>, instancePath: string, prefix: string): Map<string, string> {
  let byPrefix = importsSince.get(instancePath)
  if (byPrefix === undefined) importsSince.set(instancePath, byPrefix = new Map())
  let since = byPrefix.get(prefix)
  if (since === undefined) byPrefix.set(prefix, since = new Map())
  return since
}

/** Replaces the held imports with those saved (`snapshot`) of the instances `known` (a model's). */
export function restoreImports (imports: Map<string, InstanceImports>, importsSince: Map<string, InstanceImportsSince>,
  snapshot: ImportsSnapshot, known: (instancePath: string) => boolean): void {
  imports.clear()
  importsSince.clear()
  const now = isoTime(Date.now())
  for (const [path, byPrefix] of Object.entries(snapshot)) {
    if (!known(path)) continue
    const store: InstanceImports = new Map()
    for (const [prefix, list] of Object.entries(byPrefix)) {
      store.set(prefix, new Map(list.map(i => [i.instancePath, i])))
      // a restored import is held since the restart, as far as this process knows
      for (const i of list) sinceStore(importsSince, path, prefix).set(i.instancePath, now)
    }
    imports.set(path, store)
  }
}

/** Imports of an instance by prefix, in arrival order. */
export function importsByPrefix (imports: InstanceImports | undefined): Record<string, Import[]> {
  const out: Record<string, Import[]> = {}
  for (const [prefix, byExporter] of imports ?? []) {
    if (byExporter.size > 0) out[prefix] = [...byExporter.values()]
  }
  return out
}

/** What an instance importing `prefixes` waits for and holds (sent with every state: InstanceReport). */
export function importsReport (prefixes: Map<string, { optional: boolean }>, imports: InstanceImports | undefined,
  importsSince: InstanceImportsSince | undefined): { missingImports: string[], heldImports: HeldImport[] } {
  const missingImports: string[] = []
  const heldImports: HeldImport[] = []
  for (const [prefix, { optional }] of prefixes) {
    const held = imports?.get(prefix)
    if ((held?.size ?? 0) === 0) {
      if (!optional) missingImports.push(prefix)
      continue
    }
    const since = importsSince?.get(prefix)
    for (const exporter of held?.keys() ?? []) {
      heldImports.push({ prefix, instancePath: exporter, since: since?.get(exporter) ?? isoTime(Date.now()) })
    }
  }
  return { missingImports, heldImports }
}

export function sameVariables (a: Record<string, string | null>, b: Record<string, string | null>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every(k => k in b && a[k] === b[k])
}
