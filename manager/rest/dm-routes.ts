// The REST routes of the DM's own resources: templates, applications and their instances (states, actions,
// agent params, logs, descriptions), targets and their associations, where Prometheus finds the agents.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import { DATA_MACHINE_ID, DATA_TARGET_HANDLER } from '../constants.js'
import type { DeploymentManager, DmAction } from '../dm.js'
import type { ApplicationSettings } from '../dto.js'
import { NoAgentParamsError } from '../errors.js'
import type { TargetHandler } from '../targets/types.js'
import * as s from './schemas.js'
import { answer, type RouteSpec } from './server.js'

type AppParams = { app: string }

/**
 * Where Prometheus scrapes the agents that serve metrics, in its HTTP service discovery format
 * (deploy/prometheus.yml): one target group per agent, labelled with its application and machine.
 */
function metricsTargets (dm: DeploymentManager): Array<{ targets: string[], labels: Record<string, string> }> {
  return dm.listApplications().flatMap(a => dm.agents(a.name)
    .filter(agent => agent.metricsAddress !== undefined)
    .map(agent => ({ targets: [agent.metricsAddress as string], labels: { application: a.name, machine: agent.scopedInstancePath } })))
}

export function dmRoutes (dm: DeploymentManager, targets: TargetHandler[]): RouteSpec[] {
  return [...templateRoutes(dm), ...applicationRoutes(dm), ...instanceRoutes(dm), ...machineRoutes(dm, targets), ...targetRoutes(dm)]
}

/** Routes of templates: loaded, listed, read, deleted. */
function templateRoutes (dm: DeploymentManager): RouteSpec[] {
  return [
    {
      method: 'POST', url: '/api/templates', summary: 'load a template: a zip body (application/zip, max 20 MB) or {"path"} of a folder or zip on the DM host',
      body: s.templatePathBody, alsoAccepts: ['application/zip'], responses: { 201: s.templateLoaded },
      handler: async (request, reply) => {
        const body = request.body
        const loaded = Buffer.isBuffer(body)
          ? await dm.loadTemplateFromZip(body)
          : await dm.loadTemplateFromPath((body as { path: string }).path)
        return answer(reply, 201, { name: loaded.name, version: loaded.version, errors: loaded.errors })
      }
    },
    {
      method: 'GET', url: '/api/templates', summary: 'list templates', responses: { 200: { type: 'array', items: s.templateSummary } },
      handler: async () => dm.listTemplates().map(t => ({ name: t.name, version: t.version, description: t.description ?? '' }))
    },
    {
      method: 'GET', url: '/api/templates/:name/:version', summary: 'a template: components, declared instances, warnings, applications made from it',
      params: s.templateParams, responses: { 200: s.templateDetails },
      handler: async (request) => {
        const { name, version } = request.params as { name: string, version: string }
        return dm.getTemplate(name, version)
      }
    },
    {
      method: 'DELETE', url: '/api/templates/:name/:version', summary: 'delete a template (409 while applications use it)',
      params: s.templateParams, responses: { 204: null },
      handler: async (request, reply) => {
        const { name, version } = request.params as { name: string, version: string }
        dm.deleteTemplate(name, version)
        return answer(reply, 204)
      }
    }
  ]
}

/** Routes of applications: created, listed, read, changed, deleted. */
function applicationRoutes (dm: DeploymentManager): RouteSpec[] {
  return [
    {
      method: 'POST', url: '/api/applications', summary: 'create an application from a template',
      body: s.createApplicationBody, responses: { 201: s.applicationSummary },
      handler: async (request, reply) => answer(reply, 201, dm.createApplication(request.body as Parameters<DeploymentManager['createApplication']>[0]))
    },
    {
      method: 'GET', url: '/api/applications', summary: 'list applications', responses: { 200: { type: 'array', items: s.applicationSummary } },
      handler: async () => dm.listApplications().map(a => ({ ...a, description: a.description ?? '' }))
    },
    {
      method: 'GET', url: '/api/applications/:app', summary: 'an application and its instance tree',
      params: s.applicationParams, responses: { 200: { ...s.applicationSummary, properties: { ...s.applicationSummary.properties, instances: { type: 'array', items: s.instanceView } } } },
      handler: async (request) => dm.getApplication((request.params as AppParams).app)
    },
    {
      method: 'PATCH', url: '/api/applications/:app', summary: 'change an application\'s settings: probePeriodMs (null: the DM\'s default), sent to its running agents',
      params: s.applicationParams, body: s.updateApplicationBody, responses: { 200: s.applicationSummary },
      handler: async (request) => dm.updateApplication((request.params as AppParams).app, request.body as ApplicationSettings)
    },
    {
      method: 'DELETE', url: '/api/applications/:app', summary: 'delete an application (its machines are terminated first)',
      params: s.applicationParams, responses: { 204: null },
      handler: async (request, reply) => { await dm.deleteApplication((request.params as AppParams).app); return answer(reply, 204) }
    }
  ]
}

/** Routes of an application's instance tree: read, added, copied, renamed, deleted. */
function instanceRoutes (dm: DeploymentManager): RouteSpec[] {
  return [
    {
      method: 'GET', url: '/api/applications/:app/instances', summary: 'the instance tree with states',
      params: s.applicationParams, responses: { 200: { type: 'array', items: s.instanceView } },
      handler: async (request) => dm.instances((request.params as AppParams).app)
    },
    {
      method: 'POST', url: '/api/applications/:app/instances', summary: 'add a root instance (a machine) or a child',
      params: s.applicationParams, body: s.addInstanceBody, responses: { 201: s.instanceView },
      handler: async (request, reply) => answer(reply, 201,
        dm.addInstance((request.params as AppParams).app, request.body as Parameters<DeploymentManager['addInstance']>[1]))
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/replicate', summary: 'copy a root instance and its subtree under a new name',
      params: s.applicationParams, body: s.replicateBody, responses: { 201: s.instanceView },
      handler: async (request, reply) => {
        const { path, newName } = request.body as { path: string, newName: string }
        return answer(reply, 201, dm.replicate((request.params as AppParams).app, path, newName))
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/rename', summary: 'rename an instance (Roboconf\'s Rename; 409 unless its subtree is NOT_DEPLOYED)',
      params: s.applicationParams, body: s.renameBody, responses: { 200: s.instanceView },
      handler: async (request) => {
        const { path, newName } = request.body as { path: string, newName: string }
        return dm.renameInstance((request.params as AppParams).app, path, newName)
      }
    },
    {
      method: 'DELETE', url: '/api/applications/:app/instances', summary: 'delete an instance subtree (409 unless all NOT_DEPLOYED)',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 204: null },
      handler: async (request, reply) => {
        dm.removeInstance((request.params as AppParams).app, (request.query as { path: string }).path)
        return answer(reply, 204)
      }
    }
  ]
}

/** Routes of what runs: agent params, logs, metrics targets, descriptions, state requests and actions. */
function machineRoutes (dm: DeploymentManager, targets: TargetHandler[]): RouteSpec[] {
  return [
    {
      method: 'GET', url: '/api/applications/:app/instances/agent-params', summary: 'the params (user data) to hand the agent of a machine of the existing target',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 200: { type: 'object', additionalProperties: true } },
      handler: async (request) => {
        const application = (request.params as AppParams).app
        const { path } = request.query as { path: string }
        const { data } = dm.instance(application, path)
        const handler = targets.find(t => t.id === data[DATA_TARGET_HANDLER])
        const machineId = data[DATA_MACHINE_ID]
        const params = machineId === undefined ? undefined : await handler?.agentParams?.(machineId)
        if (params === undefined) throw new NoAgentParamsError(application, path, machineId === undefined ? undefined : data[DATA_TARGET_HANDLER])
        return params
      }
    },
    {
      method: 'GET', url: '/api/applications/:app/logs', summary: 'a machine\'s recent log through its agent (or what the DM kept of a terminated one: kept true): lines with seq, at, level, message, instance, step',
      params: s.applicationParams, querystring: s.logsQuery,
      responses: { 200: { type: 'object', properties: { lines: { type: 'array', items: { type: 'object' } }, lastSeq: { type: 'integer' }, kept: { type: 'boolean' } } } },
      handler: async (request) => {
        const query = request.query as { path: string, tail?: string, after?: string, instance?: string }
        return await dm.logs((request.params as AppParams).app, query.path, {
          ...(query.tail !== undefined ? { tail: Number(query.tail) } : {}),
          ...(query.after !== undefined ? { afterSeq: Number(query.after) } : {}),
          ...(query.instance !== undefined ? { instance: query.instance } : {})
        })
      }
    },
    {
      method: 'GET', url: '/api/metrics/targets', summary: 'where Prometheus scrapes the agents serving metrics (its HTTP service discovery format; deploy/prometheus.yml)',
      responses: { 200: { type: 'array', items: { type: 'object', properties: { targets: { type: 'array', items: { type: 'string' } }, labels: { type: 'object', additionalProperties: { type: 'string' } } } } } },
      handler: async () => metricsTargets(dm)
    },
    {
      method: 'GET', url: '/api/applications/:app/instances/describe', summary: 'why an instance is where it is: state and since when, problems, machine, exports, imports held and missing, last events',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 200: s.instanceDescription },
      handler: async (request) => dm.describe((request.params as AppParams).app, (request.query as { path: string }).path)
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/state', summary: 'ask one instance for a state',
      params: s.applicationParams, body: s.changeStateBody, responses: { 202: null },
      handler: async (request, reply) => {
        const { path, state } = request.body as { path: string, state: InstanceStatus }
        dm.changeState((request.params as AppParams).app, path, state)
        return answer(reply, 202)
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/actions', summary: 'deploy-and-start-all, stop-all or undeploy-all (whole application, a subtree, or a component)',
      params: s.applicationParams, body: s.actionBody, responses: { 202: null },
      handler: async (request, reply) => {
        dm.action((request.params as AppParams).app, request.body as { action: DmAction, path?: string, component?: string })
        return answer(reply, 202)
      }
    }
  ]
}

/** Routes of targets and their associations. */
function targetRoutes (dm: DeploymentManager): RouteSpec[] {
  return [
    {
      method: 'GET', url: '/api/targets', summary: 'list targets (the built-in default first)', responses: { 200: { type: 'array', items: s.targetView } },
      handler: async () => dm.listTargets().map(t => ({ id: t.id, handler: t.handler, name: t.name ?? t.id, properties: t.properties }))
    },
    {
      method: 'POST', url: '/api/targets', summary: 'create a target', body: s.targetBody, responses: { 201: s.targetView },
      handler: async (request, reply) => {
        const body = request.body as { id: string, handler: string, name?: string, description?: string, properties?: Record<string, string> }
        return answer(reply, 201, dm.createTarget({ ...body, properties: body.properties ?? {} }))
      }
    },
    {
      method: 'GET', url: '/api/targets/:id', summary: 'a target, where it is associated and the machines created with it',
      params: s.targetParams, responses: { 200: s.targetDetails },
      handler: async (request) => {
        const t = dm.targetDetails((request.params as { id: string }).id)
        return { ...t, name: t.name ?? t.id }
      }
    },
    {
      method: 'DELETE', url: '/api/targets/:id', summary: 'delete a target (409 while associated or used by a machine, naming what uses it)',
      params: s.targetParams, responses: { 204: null },
      handler: async (request, reply) => { dm.deleteTarget((request.params as { id: string }).id); return answer(reply, 204) }
    },
    {
      method: 'GET', url: '/api/applications/:app/targets', summary: 'the target associations of the application',
      params: s.applicationParams,
      responses: { 200: { type: 'array', items: { type: 'object', properties: { scope: { type: 'object' }, targetId: { type: 'string' } } } } },
      handler: async (request) => dm.targetAssociations((request.params as AppParams).app)
    },
    {
      method: 'POST', url: '/api/applications/:app/targets', summary: 'associate a target with the application (default), a machine path or a machine component',
      params: s.applicationParams, body: s.associateTargetBody, responses: { 204: null },
      handler: async (request, reply) => {
        dm.associateTarget((request.params as AppParams).app, request.body as { targetId: string, path?: string, component?: string })
        return answer(reply, 204)
      }
    }
  ]
}
