// The `logger` plug-in: logs every step and does nothing else (demos, tests).
import type { ExecutionContext, ImportChange, Plugin } from './types.js'

export function createLoggerPlugin (): Plugin {
  const step = (name: string) => async (context: ExecutionContext, change?: ImportChange): Promise<void> => {
    const detail = change === undefined ? ''
      : ` (import ${change.importChanged.instancePath} ${change.statusChanged === 'DEPLOYED_STARTED' ? 'added' : 'removed'})`
    context.log.info(`[${context.instance.path}] logger plug-in: ${name}${detail}`)
  }
  return {
    name: 'logger',
    initialize: step('initialize'),
    deploy: step('deploy'),
    start: step('start'),
    update: step('update'),
    stop: step('stop'),
    undeploy: step('undeploy')
  }
}
