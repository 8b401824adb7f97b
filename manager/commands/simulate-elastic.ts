// `meshconf simulate lamp-elastic`: the seed's story with no person in the loop. The LAMP application of `simulate
// lamp` (same DM, deployment and clean-up: LampSimulationOptions.story) plus simulations/lamp-elastic/: a probe on each
// Tomcat reads its requests per second, a rule replicates the Tomcat VM when a Tomcat serves more than `busy`, another
// removes one when they serve less than `idle` for the DM's scale-down window. A load generator (load-generator.ts)
// drives it: light, up (a second Tomcat comes and serves, then a third), more (the VM limit holds), down (back to
// one). Every request is checked and counted: none may fail, and Apache is never restarted.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DmEvent as ClientEvent } from '../client.js'
import { startLoad, type Load, type LoadStats } from './load-generator.js'
import {
  defaultLampTemplate, poll, simulationFolder, SimulationCheckError, type SimulationReport
} from './simulation-steps.js'
import {
  get, membersAre, MYSQL_VALUE, runLampSimulation, type LampSimulationOptions, type LampStoryContext
} from './simulate-lamp.js'

/** The defaults of the story, chosen so that it runs in about a minute and a half on a small host. */
export const ELASTIC_DEFAULTS = {
  /** The application's probe period, in milliseconds (the minimum). */
  probePeriodMs: 1_000,
  /** Requests per second per Tomcat above which the scale-up rule fires. */
  busyRps: 8,
  /** Requests per second per Tomcat below which the scale-down rule may fire. */
  idleRps: 3,
  /** How long the load must stay low before a Tomcat goes, in milliseconds (the DM's scale-down window). */
  scaleDownWindowMs: 5_000,
  /** Machines the rules may reach: MySQL, Apache and three Tomcats. */
  maxVms: 5,
  /** The load, in requests per second: light (one Tomcat idles), up (three Tomcats), more (the limit), low. */
  lightRps: 2,
  upRps: 20,
  moreRps: 36,
  lowRps: 2,
  /** Bounds of the load: requests in all, and time, in milliseconds. */
  maxRequests: 20_000,
  maxLoadMs: 600_000
} as const

export type ElasticSettings = { -readonly [K in keyof typeof ELASTIC_DEFAULTS]: number }

export interface LampElasticOptions extends Omit<LampSimulationOptions, 'story' | 'autonomy' | 'probePeriodMs' | 'templateDirectory' | 'broker'> {
  /** local or netns (docker is refused: the load generator reaches only loopback and the simulation's namespaces). */
  target?: 'local' | 'netns'
  /** Overrides of ELASTIC_DEFAULTS. */
  settings?: Partial<ElasticSettings>
}

/** What the story measured (besides its steps). */
export interface ElasticFigures {
  /** From the load crossing the scale-up threshold to the second Tomcat's first answer, in milliseconds. */
  thresholdToServingMs?: number
  /** The second Tomcat VM's deployment: from its creation (the rule's replicate) to its Tomcat started, in milliseconds. */
  machineDeployMs?: number
  /** The application's probe period, in milliseconds. */
  probePeriodMs: number
  /** Requests the load generator sent, and how many failed (goal 0). */
  requests: number
  failedRequests: number
  /** Most Tomcats that served at once, and the VM limit. */
  tomcatsAtMost: number
  maxVms: number
}

export interface LampElasticReport extends SimulationReport {
  elastic: ElasticFigures
}

const tomcat = (n: number): string => `/Tomcat VM ${n}/Tomcat`
/** Pause between two looks at the load's answers and the DM's decisions, in milliseconds. */
const WAIT_POLL_MS = 100
/**
 * An event's streak ends after this many probe periods without it (autonomy.eventStreakGapMs): the light load's idle
 * streak must not carry over the busy phase.
 */
const STREAK_GAP_PERIODS = 3
/**
 * How long the load asking for more is held, in probe periods: beyond the streak gap and the Tomcats' 2 s window, so
 * that the idle events of Tomcat VM 3's first second (it serves nothing yet) start no streak that the drop continues.
 */
const LIMIT_HOLD_PERIODS = 2 * STREAK_GAP_PERIODS

/** simulations/lamp with simulations/lamp-elastic laid over it, the thresholds written in; in a fresh folder. */
function assembleTemplate (settings: ElasticSettings): string {
  const folder = mkdtempSync(join(tmpdir(), 'meshconf-lamp-elastic-'))
  cpSync(defaultLampTemplate(), folder, { recursive: true })
  cpSync(simulationFolder('lamp-elastic', join('probes', 'Tomcat.measures')), folder, { recursive: true })
  rmSync(join(folder, 'README.md'), { force: true })
  writeFileSync(join(folder, 'probes', 'Tomcat.measures.properties'),
    `# written by meshconf simulate lamp-elastic: requests per second per Tomcat\nbusy = ${settings.busyRps}\nidle = ${settings.idleRps}\n`)
  return folder
}

export async function runLampElasticSimulation (options: LampElasticOptions = {}): Promise<LampElasticReport> {
  if ((options.target as string | undefined) === 'docker') throw new SimulationCheckError('lamp-elastic runs on --target local or netns')
  const settings: ElasticSettings = { ...ELASTIC_DEFAULTS, ...options.settings }
  const figures: ElasticFigures = { probePeriodMs: settings.probePeriodMs, requests: 0, failedRequests: 0, tomcatsAtMost: 0, maxVms: settings.maxVms }
  const templateDirectory = assembleTemplate(settings)
  try {
    const report = await runLampSimulation({
      ...options,
      templateDirectory,
      probePeriodMs: settings.probePeriodMs,
      autonomy: {
        maximumVmNumber: settings.maxVms,
        scaleDownStabilizationMs: settings.scaleDownWindowMs,
        // a few missed rounds end a streak: the idle streak of the light load must not carry over the busy phase
        eventStreakGapMs: STREAK_GAP_PERIODS * settings.probePeriodMs
      },
      story: async context => { await elasticStory(context, settings, figures) }
    })
    return { ...report, elastic: figures }
  } finally {
    rmSync(templateDirectory, { recursive: true, force: true })
  }
}

interface Seen { path: string, status: string, at: number }
interface Decision { rule: string, fired: boolean, reason: string, at: number, value?: number }

async function elasticStory (context: LampStoryContext, settings: ElasticSettings, figures: ElasticFigures): Promise<void> {
  const { step, dmClient, application, apacheUrl, firstApache, stepWaitMs } = context
  const seen: Seen[] = []
  const decisions: Decision[] = []
  const events = await dmClient().openEvents({ application })
  events.on('event', (event: ClientEvent) => {
    const at = typeof event.at === 'number' ? event.at : Date.parse(String(event.at))
    if (event.type === 'instance') seen.push({ path: event.path, status: event.status, at })
    if (event.type === 'autonomic') {
      const e = event as unknown as { rule: string, fired: boolean, reason: string, value?: number }
      decisions.push({ rule: e.rule, fired: e.fired, reason: e.reason, at, ...(typeof e.value === 'number' ? { value: e.value } : {}) })
    }
  })
  events.on('error', () => { /* the steps see what is missing */ })
  let load: Load | undefined
  let last: LoadStats | undefined
  const stats = (): LoadStats => load?.stats() ?? last ?? { sent: 0, ok: 0, failed: 0, failures: [], byTomcat: {} }
  /** Fails the step as soon as a request failed or the load hit its bounds; with what the services logged last. */
  const healthy = (): void => {
    const s = stats()
    if (s.failed > 0) {
      throw new SimulationCheckError(`${s.failed} request(s) failed, the first: ${s.failures.slice(0, 3).map(f => `${f.at} ${f.detail}`).join('; ')}; ` +
        `the services' last log lines: ${context.serviceLogTails(3)}`)
    }
    if (s.bounded !== undefined) throw new SimulationCheckError(`the load stopped at its bound (${s.bounded}) before the step was done`)
  }
  /** Polls `check` until it gives a value; fails at once when a request failed, after the step's wait otherwise. */
  const waitUntil = async <T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + stepWaitMs
    for (;;) {
      healthy()
      const value = await check()
      if (value !== undefined) return value
      if (Date.now() >= deadline) {
        // why the rules did not act: the last decision of each, and the last instructions they ran
        const last = [...new Map(decisions.map(d => [d.rule, d])).values()].map(d => `${d.rule}: ${d.fired ? 'fired' : d.reason}`)
        const history = await dmClient().history(application, { limit: 3 }).then(h => h.entries.map(e => `${e.instruction}: ${e.outcome} ${e.detail}`), () => [])
        throw new SimulationCheckError(`${what}: not reached in ${stepWaitMs / 1000}s (${describeLoad(stats())}; last decisions: ${last.join('; ') || 'none'}; ` +
          `last instructions: ${history.join('; ') || 'none'})`)
      }
      await new Promise(resolve => setTimeout(resolve, WAIT_POLL_MS))
    }
  }
  const serving = (): string[] => Object.keys(stats().byTomcat)
  const machines = async (): Promise<string[]> => (await dmClient().getInstances(application)).map(n => n.path)
  const noteTomcats = (): void => { figures.tomcatsAtMost = Math.max(figures.tomcatsAtMost, serving().filter(n => n.startsWith('/Tomcat VM ')).length) }

  try {
    await step(`light load (${settings.lightRps} requests/s): the probes run every ${settings.probePeriodMs} ms, the scale-down rule keeps the last Tomcat`, async () => {
      load = startLoad({
        url: apacheUrl, expectedValue: MYSQL_VALUE, maxRequests: settings.maxRequests, maxDurationMs: settings.maxLoadMs,
        ...(context.target === 'netns' ? { allowedSubnet: context.netnsSubnet } : {})
      })
      load.setRate(settings.lightRps)
      const kept = await waitUntil('the scale-down rule kept the last Tomcat', () =>
        decisions.find(d => d.rule === 'scale down Tomcat' && !d.fired && /minimum/.test(d.reason)))
      return `scale down Tomcat: ${kept.reason}`
    })

    let crossedAt = 0
    await step(`load up to ${settings.upRps} requests/s (over ${settings.busyRps} per Tomcat): the rule adds Tomcat VM 2, which serves`, async () => {
      crossedAt = Date.now()
      load?.setRate(settings.upRps)
      const first = await waitUntil('Tomcat VM 2 answers through Apache', () => stats().byTomcat[tomcat(2)]?.firstAt)
      noteTomcats()
      const fired = decisions.find(d => d.rule === 'scale up Tomcat' && d.fired)
      const created = seen.find(e => e.path === '/Tomcat VM 2')
      const started = seen.find(e => e.path === tomcat(2) && e.status === 'DEPLOYED_STARTED')
      figures.thresholdToServingMs = first - crossedAt
      if (created !== undefined && started !== undefined) figures.machineDeployMs = started.at - created.at
      return `first answer ${figures.thresholdToServingMs} ms after the load crossed ${settings.busyRps}/s ` +
        `(rule fired after ${fired === undefined ? '?' : fired.at - crossedAt} ms on ${fired?.value ?? '?'} requests/s; ` +
        `machine deployed in ${figures.machineDeployMs ?? '?'} ms; probe period ${settings.probePeriodMs} ms)`
    })

    await step(`still over ${settings.busyRps} per Tomcat with two: the rule adds Tomcat VM 3, which serves`, async () => {
      const begin = Date.now()
      const first = await waitUntil('Tomcat VM 3 answers through Apache', () => stats().byTomcat[tomcat(3)]?.firstAt)
      noteTomcats()
      await membersAre(apacheUrl, 3)
      return `first answer ${first - begin} ms after Tomcat VM 2's step; Apache balances over 3 members`
    })

    await step(`load up to ${settings.moreRps} requests/s: the rule wants a fourth Tomcat, the limit of ${settings.maxVms} machines holds`, async () => {
      const since = Date.now()
      load?.setRate(settings.moreRps)
      const refused = await waitUntil('the rule refused by the VM limit', () => {
        const d = decisions.find(d => d.rule === 'scale up Tomcat' && d.at >= since && (d.fired || /maximum/.test(d.reason)))
        return d
      })
      // a firing runs the commands; the replicate fails on the limit (strict): the history says so
      const entry = refused.fired
        ? await poll('the refusal in the history', stepWaitMs, async () => {
          const found = (await dmClient().history(application, { limit: 20 })).entries
            .find(e => e.source === 'rule' && e.outcome === 'error' && /maximum/.test(e.detail) && Date.parse(e.startedAt) >= since - 1000)
          if (found === undefined) throw new SimulationCheckError('no refusal in the history yet')
          return found.detail
        })
        : refused.reason
      // held: the limit keeps holding, and no request fails meanwhile
      const holdUntil = since + LIMIT_HOLD_PERIODS * settings.probePeriodMs
      await waitUntil('the load held', () => Date.now() >= holdUntil ? true : undefined)
      const roots = await machines()
      if (roots.length > settings.maxVms || seen.some(e => e.path === '/Tomcat VM 4')) {
        throw new SimulationCheckError(`the limit did not hold: machines ${roots.join(', ')}`)
      }
      return `${roots.length} machines after ${Date.now() - since} ms of this load; ${entry}`
    })

    await step(`load drops to ${settings.lowRps} requests/s: after the ${settings.scaleDownWindowMs} ms window the rule removes a Tomcat, then another: back to one`, async () => {
      const droppedAt = Date.now()
      load?.setRate(settings.lowRps)
      const roots = await waitUntil('Tomcat VM 2 and 3 deleted', async () => {
        const roots = await machines()
        return roots.some(r => r === '/Tomcat VM 2' || r === '/Tomcat VM 3') ? undefined : roots
      })
      await membersAre(apacheUrl, 1)
      const removals = decisions.filter(d => d.rule === 'scale down Tomcat' && d.fired && d.at >= droppedAt)
      const firstRemoval = removals[0]?.at ?? Date.now()
      if (firstRemoval - droppedAt < settings.scaleDownWindowMs) {
        throw new SimulationCheckError(`a Tomcat was removed ${firstRemoval - droppedAt} ms after the load dropped, within the ${settings.scaleDownWindowMs} ms window`)
      }
      healthy()
      return `removals ${removals.map(d => `+${d.at - droppedAt} ms`).join(', ')} after the drop; machines ${roots.join(', ')}`
    })

    await step('no request failed during any change, and Apache was never restarted', async () => {
      last = await load?.stop()
      load = undefined
      healthy()
      const now = (await get(`${apacheUrl}/server-status`)).body
      if (now.pid !== firstApache.pid || now.startedAt !== firstApache.startedAt) {
        throw new SimulationCheckError(`Apache restarted: pid ${firstApache.pid} started ${firstApache.startedAt}, now pid ${now.pid} started ${now.startedAt}`)
      }
      return `${describeLoad(stats())}; Apache pid ${now.pid} since ${now.startedAt}, ${now.reloads} graceful reloads`
    })
  } finally {
    last = await load?.stop().catch(() => last) ?? last
    const final = stats()
    figures.requests = final.sent
    figures.failedRequests = final.failed
    noteTomcats()
    events.close()
  }
}

/** The figures in one line (the table's last line). */
export function describeFigures (f: ElasticFigures): string {
  const ms = (n: number | undefined): string => n === undefined ? '?' : `${n} ms`
  return `elastic: threshold to serving ${ms(f.thresholdToServingMs)} (probe period ${ms(f.probePeriodMs)}, machine deploy ${ms(f.machineDeployMs)}), ` +
    `${f.requests} requests, ${f.failedRequests} failed, at most ${f.tomcatsAtMost} Tomcats (VM limit ${f.maxVms})`
}

function describeLoad (s: LoadStats): string {
  const by = Object.entries(s.byTomcat).map(([name, t]) => `${name.split('/')[1]} ${t.answers}`).join(', ')
  return `${s.sent} requests, ${s.ok} answered, ${s.failed} failed (${by || 'no answer yet'})`
}
