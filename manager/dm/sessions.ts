// What the DM knows of each machine's agent while the DM runs: one AgentSession per scoped instance, created at its
// first mention (creation, heartbeat, message) and dropped by `forget` (machine gone, application deleted, DM
// stopped). What the DM must not lose across a restart (messages waiting, listen addresses) is in the store.
import { PairMap } from '../../protocol/keys.js'

export interface AgentSession {
  readonly application: string
  readonly scopedInstancePath: string
  /** The agent has its model: messages for it are sent at once. */
  ready: boolean
  /** Last sign of life (heartbeat, or machine creation), in ms since the epoch; undefined: not watched for silence. */
  lastBeatAt?: number
  /**
   * Sent its model (or about to be), its mesh not yet said to listen: a heartbeat with addresses ends it (one without
   * may come while the mesh starts).
   */
  meshStarting: boolean
  /** Its mesh listens: its listen addresses are in the store. */
  meshListening: boolean
  /** Its model carried no bootstrap peer: the next agent of its application whose mesh listens is sent to it. */
  awaitingPeers: boolean
  /** When the mesh ownership last signed for it should be renewed (ms since the epoch); undefined: none signed yet. */
  ownershipRenewAt?: number
  /** Already warned that it beats for a machine that is not deployed (said once). */
  staleWarned: boolean
  /** The tail of its chain: the model and pending messages go out one at a time, in order. */
  chain?: Promise<void>
  /** The undeploy of its machine under way, so that a second request waits for the first. */
  undeploying?: Promise<void>
  /**
   * Set while its UNDEPLOYING machine's instances are being undeployed (its notifications still count): ends that
   * wait early (the agent said its machine is down: nothing more will come).
   */
  drain?: () => void
}

export interface AgentSessions {
  /** The agent's session, made if it has none. */
  of (application: string, scopedInstancePath: string): AgentSession
  /** The agent's session, if it has one. */
  find (application: string, scopedInstancePath: string): AgentSession | undefined
  /** The sessions of an application's agents. */
  ofApplication (application: string): AgentSession[]
  all (): AgentSession[]
  /** Runs `work` after the agent's chained work before it (failed or not); rejects as `work` does. */
  chain (application: string, scopedInstancePath: string, work: () => Promise<void>): Promise<void>
  /** The machine is gone or no longer followed: not ready, not watched, no mesh; dropped unless work is under way. */
  forget (application: string, scopedInstancePath: string): void
  forgetApplication (application: string): void
  forgetAll (): void
}

export function createAgentSessions (): AgentSessions {
  const sessions = new PairMap<AgentSession>()

  function forgetSession (session: AgentSession): void {
    session.ready = false
    session.lastBeatAt = undefined
    session.meshStarting = false
    session.meshListening = false
    session.awaitingPeers = false
    session.staleWarned = false
    session.ownershipRenewAt = undefined
    if (session.chain === undefined && session.undeploying === undefined && session.drain === undefined) {
      sessions.delete(session.application, session.scopedInstancePath)
    }
  }

  const self: AgentSessions = {
    of (application, scopedInstancePath) {
      let session = sessions.get(application, scopedInstancePath)
      if (session === undefined) {
        session = { application, scopedInstancePath, ready: false, meshStarting: false, meshListening: false, awaitingPeers: false, staleWarned: false }
        sessions.set(application, scopedInstancePath, session)
      }
      return session
    },
    find: (application, scopedInstancePath) => sessions.get(application, scopedInstancePath),
    ofApplication: application => sessions.valuesOf(application),
    all: () => sessions.values(),
    chain (application, scopedInstancePath, work) {
      const session = self.of(application, scopedInstancePath)
      const next = (session.chain ?? Promise.resolve()).then(work, work)
      const tail = next.catch(() => {})
      session.chain = tail
      void tail.then(() => { if (session.chain === tail) session.chain = undefined })
      return next
    },
    forget (application, scopedInstancePath) {
      const session = sessions.get(application, scopedInstancePath)
      if (session !== undefined) forgetSession(session)
    },
    forgetApplication (application) {
      sessions.valuesOf(application).forEach(forgetSession)
    },
    forgetAll () {
      sessions.values().forEach(forgetSession)
    }
  }
  return self
}
