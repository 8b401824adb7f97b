// The DM's elasticity: scaling, commands files, their history (and, on top, autonomic rules and schedules). Built by
// the DM (manager/dm.ts) on its public operations and its store.
import type { Component } from '../../protocol/model/types.js'
import type { DmEvent } from '../dm.js'
import type { Store, StoredInstance } from '../store.js'
import { createScaler, type ScaleOperations, type ScalerOptions } from './scale.js'

type DmOperations = Omit<ScaleOperations, 'importersOf'> & {
  getApplication (name: string): { template: { name: string, version: string } }
  onEvent (listener: (event: DmEvent) => void): () => void
}

export interface AutonomyComponents {
  dm: DmOperations
  store: Store
  log?: { info (message: string): void, warn (message: string): void }
}

export interface AutonomyOptions extends ScalerOptions {}

export function createAutonomy (components: AutonomyComponents, options: AutonomyOptions = {}) {
  const { dm, store } = components
  const importersOf = (application: string, paths: string[]): string[] => {
    const gone = new Set(paths)
    const holders: string[] = []
    const walk = (i: StoredInstance): void => {
      if (!gone.has(i.path) && Object.values(i.imports).some(list => list.some(imp => gone.has(imp.instancePath)))) holders.push(i.path)
      i.children.forEach(walk)
    }
    store.instanceTrees(application).forEach(walk)
    return holders
  }
  const componentsOf = (application: string): Record<string, Component> => {
    const { template } = dm.getApplication(application)
    return store.getTemplate(template.name, template.version)?.template.components ?? {}
  }
  const scaler = createScaler({
    dm: { ...dm, importersOf },
    history: store.autonomy,
    componentsOf,
    onChange: listener => dm.onEvent(event => { if (event.type === 'instance') listener() }),
    log: components.log
  }, options)
  return {
    scale: scaler.scale,
    history: (application: string, page: { offset: number, limit: number }) => {
      dm.getApplication(application)
      return store.autonomy.history(application, page)
    }
  }
}

export type Autonomy = ReturnType<typeof createAutonomy>
