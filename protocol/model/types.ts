// The application model shared by the DM and the agents (Roboconf's graph and instances DSL, resolved).
// Pure data: produced by the parsers in protocol/model, sent to agents inside the scoped model.
import type { InstanceStatus } from '../lifecycle.js'

export type ErrorLevel = 'SEVERE' | 'WARNING'

/** One finding of the parser or validator, with Roboconf's error code (reference Appendix B). */
export interface ModelError {
  code: string
  level: ErrorLevel
  /** Path relative to the application template's root (e.g. `graph/main.graph`), when the error is in a file. */
  file?: string
  /** 1-based line number, when known. */
  line?: number
  /** What is wrong and how to fix it, in meshconf's own words. */
  message: string
}

/** An imported variable: `Tomcat.ip`, or the wildcard `MySQL.*`. */
export interface ImportedVariable {
  name: string
  optional: boolean
  /** Imported from another application (inter-application exports). */
  external: boolean
}

/** A component after inheritance (`extends`, facets) has been applied. */
export interface Component {
  name: string
  /** Installer (plug-in name), inherited through `extends`. */
  installer: string
  /** Every exported variable, fully prefixed (facet and extension replication included): default value or null. */
  exports: Record<string, string | null>
  /** Exported variables whose value the DM generates (`random[port]`), fully prefixed. */
  randomExports: string[]
  /** Imported variables, inherited ones included (a re-declaration overrides the optional flag). */
  imports: ImportedVariable[]
  /** Facets of the component, directly declared or inherited, with the facets they extend. */
  facets: string[]
  /** Components this one extends, nearest first. */
  extendsChain: string[]
  /** Names of the components that may be instantiated under this one (facets resolved). */
  children: string[]
  /** Folder holding the recipe files, relative to the template root (`graph/<Component>`), nearest extended one. */
  recipeDirectory?: string
}

/** A node of the runtime instance tree. */
export interface Instance {
  name: string
  component: string
  /** `/VM 1/Tomcat` */
  path: string
  /** Values overridden in the instances file (full or local variable names, as written). */
  overriddenExports: Record<string, string>
  /** Instance data (`data.*`, `instance-data`), e.g. `ip.address`, `machine.id`. */
  data: Record<string, string>
  channels: string[]
  /** Runtime state (NOT_DEPLOYED as parsed from an instances file). */
  status: InstanceStatus
  children: Instance[]
}

/** descriptor/application.properties */
export interface ApplicationDescriptor {
  name: string
  version: string
  description?: string
  dslId?: string
  graphEntryPoint: string
  instanceEntryPoint?: string
  /** Prefix of the variables this application exports to other applications. */
  externalExportsPrefix?: string
  /** `Component.variable` -> alias, from `exports: HAProxy.ip as lb-ip`. */
  externalExports: Record<string, string>
  tags: string[]
}

/** A target definition (`graph/<Root>/target.properties`, or created through the DM). */
export interface TargetDefinition {
  id: string
  handler: string
  name?: string
  description?: string
  properties: Record<string, string>
}

/** An autonomic rule (`rules.autonomic/*.drl`): when `eventName` arrives, run the named commands files. */
export interface AutonomicRule {
  name: string
  eventName: string
  /** Names of `commands/<name>.commands` files, in order. */
  commands: string[]
  /** Minimum delay between two runs of the rule, in seconds. */
  sleepPeriodSeconds?: number
  /** Only events younger than this trigger the rule, in seconds. */
  timeWindowSeconds?: number
  /**
   * meshconf: instances of a component the rule keeps within bounds (`min|max instances of <Component> is <n>`
   * before `when`): a rule that scales up does not go over max, one that scales down not under min.
   */
  instanceLimits?: Record<string, { min?: number, max?: number }>
}

/** An application template, loaded and resolved. */
export interface ApplicationTemplate {
  descriptor: ApplicationDescriptor
  /** Components by name. */
  components: Record<string, Component>
  rootInstances: Instance[]
  /** Files of the template: path relative to its root -> content. Recipes are read from here. */
  files: Record<string, Uint8Array>
  /** Targets found under graph/<Root>/, keyed by the component that holds them. */
  targets: Record<string, TargetDefinition[]>
  /** Parsed rules.autonomic/*.drl files, keyed by file path (optional: templates built elsewhere may omit them). */
  rules?: Record<string, AutonomicRule>
}

export interface LoadResult {
  /** Present unless a SEVERE error prevents building the model. */
  template?: ApplicationTemplate
  errors: ModelError[]
  /**
   * The manifests of the puppet recipes (manifests/*.pp of each one roboconf_* module), for the syntax check the
   * model cannot run itself (`puppet parser validate`, REC_PUPPET_SYNTAX_ERROR: manager/puppet-syntax.ts).
   */
  puppetManifests?: Array<{ path: string, text: string }>
}
