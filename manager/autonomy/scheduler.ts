// Scheduled jobs: a cron expression (croner) that executes an application's commands file. Jobs are kept in the
// store, so a restarted DM schedules them again; a run that fell due while the DM was down is not replayed, and the
// history says so (one `missed` entry per job, with the first missed time and how many were missed).
import { randomUUID } from 'node:crypto'
import { Cron } from 'croner'
import { errorMessage } from '../../protocol/errors.js'
import { InvalidJobError, JobNotFoundError } from './errors.js'
import type { AutonomyStore, ScheduledJob } from './store.js'
import type { Logger } from '../../common/log.js'

/** Missed runs counted per job at start, at most (a job every second down for a week would be 600 000). */
const MAX_MISSED_COUNTED = 1000

export interface SchedulerComponents {
  store: AutonomyStore
  /** Executes the job's commands file; its instructions go to the history. */
  run: (application: string, command: string, job: ScheduledJob) => Promise<unknown>
  /** Throws when the application or its commands file does not exist. */
  check: (application: string, command: string) => void
  log: Pick<Logger, 'info' | 'warn'>
}

export interface NewJob { name?: string, application: string, command: string, cron: string }

export function createScheduler (components: SchedulerComponents) {
  const { store, log } = components
  const timers = new Map<string, Cron>()
  let started = false

  function parseCron (pattern: string): Cron {
    try {
      return new Cron(pattern, { paused: true })
    } catch (err) {
      throw new InvalidJobError(`cron expression ${JSON.stringify(pattern)} is invalid (${errorMessage(err)}): write 5 fields (minute hour day month weekday) or 6 (seconds first), e.g. "*/5 * * * *"`)
    }
  }

  function schedule (job: ScheduledJob): void {
    const timer = new Cron(job.cron, { protect: true, catch: (err: unknown) => log.warn(`scheduled job ${job.name}: ${errorMessage(err)}`, { application: job.application }) }, async () => {
      store.setJobLastRun(job.id, new Date().toISOString())
      try {
        await components.run(job.application, job.command, job)
      } catch (err) {
        log.warn(`scheduled job ${job.name} (${job.application}, ${job.command}): ${errorMessage(err)}`, { application: job.application })
      }
    })
    timers.set(job.id, timer)
  }

  /** Records, once per job, the runs that fell due while the DM was down; they are not replayed. */
  function recordMissed (job: ScheduledJob, now: Date): void {
    const cron = parseCron(job.cron)
    let next = cron.nextRun(new Date(job.lastRunAt ?? job.createdAt))
    const first = next
    let count = 0
    while (next !== null && next < now && count < MAX_MISSED_COUNTED) {
      count++
      next = cron.nextRun(next)
    }
    if (first === null || count === 0) return
    store.record({
      application: job.application, command: job.command, instruction: `(scheduled run of ${job.command})`, line: 0,
      source: 'schedule', sourceName: job.name, outcome: 'missed',
      detail: `${count >= MAX_MISSED_COUNTED ? `${MAX_MISSED_COUNTED} or more runs` : `${count} run(s)`}, the first due at ${first.toISOString()}, fell due while the DM was down: not replayed`,
      startedAt: now.toISOString(), durationMs: 0, executionId: randomUUID()
    })
    store.setJobLastRun(job.id, now.toISOString())
  }

  return {
    start (): void {
      if (started) return
      started = true
      const now = new Date()
      for (const job of store.jobs()) {
        try {
          recordMissed(job, now)
          schedule(job)
        } catch (err) {
          log.warn(`scheduled job ${job.name} cannot be scheduled: ${errorMessage(err)}`, { application: job.application })
        }
      }
    },
    stop (): void {
      started = false
      for (const timer of timers.values()) timer.stop()
      timers.clear()
    },
    add (input: NewJob): ScheduledJob {
      const cron = parseCron(input.cron)
      if (cron.nextRun() === null) throw new InvalidJobError(`cron expression ${JSON.stringify(input.cron)} never fires again: give one with a future run`)
      components.check(input.application, input.command)
      const id = randomUUID()
      const job: ScheduledJob = {
        id, name: input.name ?? `${input.application}-${input.command}-${id.slice(0, 8)}`, application: input.application,
        command: input.command, cron: input.cron, createdAt: new Date().toISOString()
      }
      store.putJob(job)
      if (started) schedule(job)
      return job
    },
    list (application?: string): Array<ScheduledJob & { nextRunAt?: string }> {
      return store.jobs().filter(j => application === undefined || j.application === application).map(j => {
        const next = timers.get(j.id)?.nextRun()
        return next === null || next === undefined ? j : { ...j, nextRunAt: next.toISOString() }
      })
    },
    delete (id: string): void {
      if (!store.deleteJob(id)) throw new JobNotFoundError(id)
      timers.get(id)?.stop()
      timers.delete(id)
    }
  }
}

export type Scheduler = ReturnType<typeof createScheduler>
