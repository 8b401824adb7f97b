// Where the CLI finds the DM. `~/.meshconf/config.json` holds named contexts (a DM URL and a token, or a reference
// to the file holding it) and the current one, as kubeconfig does:
//   { "current": "dm", "contexts": { "dm": { "dm": "http://127.0.0.1:7400", "tokenFile": "/root/.meshconf/dm/token" } } }
// The URL comes from --dm, else --context NAME, else $MESHCONF_DM, else the current context (or $MESHCONF_CONTEXT),
// else the local default; the token likewise with --token and $MESHCONF_TOKEN. The older one-DM form
// `{ "dm": ..., "token": ... }` is read as a context named `default`.
import { mkdirSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { writeAtomically } from '../common/fs.js'
import { errorMessage } from '../protocol/errors.js'

/** The DM's HTTP port when nothing says otherwise (the REST contract's default). */
export const DEFAULT_DM_PORT = 7400
export const DEFAULT_DM_URL = `http://127.0.0.1:${DEFAULT_DM_PORT}`
/** Environment variables read by the CLI. */
export const ENV_DM_URL = 'MESHCONF_DM'
export const ENV_DM_TOKEN = 'MESHCONF_TOKEN'
export const ENV_CONTEXT = 'MESHCONF_CONTEXT'
/** The config file to use instead of ~/.meshconf/config.json. */
export const ENV_CONFIG = 'MESHCONF_CONFIG'
/** Name of the context the older one-DM config form stands for. */
export const LEGACY_CONTEXT = 'default'
/** Context names: what a person types after --context. */
const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/** Where a value came from, so error messages can say which setting to fix. */
export type ConfigSource = 'flag' | 'environment' | 'context' | 'config file' | 'default'

export interface DmContext {
  /** Base URL of the DM, e.g. `http://127.0.0.1:7400`. */
  dm: string
  /** The bearer token itself (a DM elsewhere)… */
  token?: string
  /** …or the file holding it (`<data dir>/token` of a DM on this host), read at each use. */
  tokenFile?: string
  /** The DM's data folder, for contexts `dm start` made. */
  dataDir?: string
}

export interface MeshconfConfig {
  current?: string
  contexts: Record<string, DmContext>
}

export interface DmConfig {
  /** Base URL of the DM, without a trailing slash (e.g. `http://127.0.0.1:7400`). */
  url: string
  urlSource: ConfigSource
  /** Bearer token; undefined when no setting gives one (the DM will answer 401). */
  token?: string
  tokenSource?: ConfigSource
  /** The context used, when one was. */
  context?: string
  /** The config file that was read (or would have been). */
  configFile: string
}

export interface DmConfigInputs {
  /** `--dm` */
  dm?: string
  /** `--token` */
  token?: string
  /** `--context` */
  context?: string
  /** Environment; default process.env. */
  env?: NodeJS.ProcessEnv
  /** Home folder holding `.meshconf/`; default os.homedir(). */
  home?: string
}

/** The config file is unreadable or not the expected JSON. */
export class ConfigFileError extends Error {
  readonly code = 'CLI_CONFIG_FILE'
  constructor (readonly file: string, reason: string) {
    super(`cannot use ${file}: ${reason} (expected JSON {"current": "NAME", "contexts": {"NAME": {"dm": "http://host:${DEFAULT_DM_PORT}", "token": "..."}}}; fix or delete it, or pass --dm and --token)`)
    this.name = 'ConfigFileError'
  }
}

/** A DM URL that is not an http(s) URL. */
export class InvalidDmUrlError extends Error {
  readonly code = 'CLI_DM_URL'
  constructor (readonly value: string, readonly source: ConfigSource) {
    super(`the DM URL "${value}" (from ${sourceLabel(source)}) is not an http:// or https:// URL, e.g. ${DEFAULT_DM_URL}`)
    this.name = 'InvalidDmUrlError'
  }
}

/** --context (or $MESHCONF_CONTEXT, or "current") names a context the config file does not have. */
export class UnknownContextError extends Error {
  readonly code = 'CLI_UNKNOWN_CONTEXT'
  constructor (readonly context: string, readonly known: string[], readonly file: string) {
    super(`no context named ${JSON.stringify(context)} in ${file} (${known.length === 0 ? 'there is none: `meshconf dm start` or `meshconf context add` makes one' : `known: ${known.join(', ')}; \`meshconf context list\` shows them`})`)
    this.name = 'UnknownContextError'
  }
}

/** A context name that cannot be typed after --context. */
export class InvalidContextNameError extends Error {
  readonly code = 'CLI_CONTEXT_NAME'
  constructor (readonly value: string) {
    super(`${JSON.stringify(value)} is not a context name: letters, digits, _ . - (at most 63, starting with a letter or digit)`)
    this.name = 'InvalidContextNameError'
  }
}

/** The token file a context refers to cannot be read. */
export class TokenFileError extends Error {
  readonly code = 'CLI_TOKEN_FILE'
  constructor (readonly file: string, readonly context: string, reason: string) {
    super(`cannot read the token of context ${context} from ${file}: ${reason} (fix it with \`meshconf context add ${context} --dm URL --token T\`, or pass --token)`)
    this.name = 'TokenFileError'
  }
}

export function configFilePath (home: string = homedir(), env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[ENV_CONFIG]
  return explicit !== undefined && explicit.trim() !== '' ? explicit : join(home, '.meshconf', 'config.json')
}

function sourceLabel (source: ConfigSource): string {
  switch (source) {
    case 'flag': return '--dm'
    case 'environment': return ENV_DM_URL
    case 'context': return 'the context'
    case 'config file': return 'the config file'
    case 'default': return 'the default'
  }
}

export function checkContextName (name: string): string {
  if (!CONTEXT_NAME.test(name)) throw new InvalidContextNameError(name)
  return name
}

function parseContext (file: string, name: string, value: unknown): DmContext {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigFileError(file, `context "${name}" is not a JSON object`)
  const { dm, token, tokenFile, dataDir } = value as Record<string, unknown>
  if (typeof dm !== 'string') throw new ConfigFileError(file, `context "${name}" has no "dm" URL string`)
  for (const [key, v] of Object.entries({ token, tokenFile, dataDir })) {
    if (v !== undefined && typeof v !== 'string') throw new ConfigFileError(file, `"${key}" of context "${name}" is not a string`)
  }
  return { dm, ...(token !== undefined ? { token: token as string } : {}), ...(tokenFile !== undefined ? { tokenFile: tokenFile as string } : {}), ...(dataDir !== undefined ? { dataDir: dataDir as string } : {}) }
}

/** Reads the config file; a missing file is an empty config. */
export function readConfig (file: string): MeshconfConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} }
    throw new ConfigFileError(file, errorMessage(err))
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigFileError(file, `invalid JSON (${errorMessage(err)})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigFileError(file, 'not a JSON object')
  const raw = parsed as Record<string, unknown>
  if (raw.contexts === undefined) {
    // the older one-DM form
    const { dm, token } = raw
    if (dm !== undefined && typeof dm !== 'string') throw new ConfigFileError(file, '"dm" is not a string')
    if (token !== undefined && typeof token !== 'string') throw new ConfigFileError(file, '"token" is not a string')
    if (dm === undefined) return { contexts: {} }
    return { current: LEGACY_CONTEXT, contexts: { [LEGACY_CONTEXT]: { dm: dm as string, ...(token !== undefined ? { token: token as string } : {}) } } }
  }
  if (raw.contexts === null || typeof raw.contexts !== 'object' || Array.isArray(raw.contexts)) throw new ConfigFileError(file, '"contexts" is not a JSON object')
  if (raw.current !== undefined && typeof raw.current !== 'string') throw new ConfigFileError(file, '"current" is not a string')
  const contexts: Record<string, DmContext> = {}
  for (const [name, value] of Object.entries(raw.contexts as Record<string, unknown>)) contexts[name] = parseContext(file, name, value)
  return { ...(raw.current !== undefined ? { current: raw.current as string } : {}), contexts }
}

/** Writes the config file atomically, readable by its owner only (it may hold tokens). */
export async function writeConfig (file: string, config: MeshconfConfig): Promise<void> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  await writeAtomically(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
}

/** The token a context gives: its own, or read from its token file. */
export function contextToken (name: string, context: DmContext): string | undefined {
  if (nonEmpty(context.token) !== undefined) return nonEmpty(context.token)
  if (context.tokenFile === undefined) return undefined
  try {
    return nonEmpty(readFileSync(context.tokenFile, 'utf8'))
  } catch (err) {
    throw new TokenFileError(context.tokenFile, name, errorMessage(err))
  }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined
}

/** The context to use: --context, else $MESHCONF_CONTEXT, else the current one; undefined when there is none. */
function chooseContext (config: MeshconfConfig, file: string, explicit: string | undefined, env: NodeJS.ProcessEnv): { name: string, context: DmContext, explicit: boolean } | undefined {
  const named = nonEmpty(explicit) ?? nonEmpty(env[ENV_CONTEXT])
  const name = named ?? config.current
  if (name === undefined) return undefined
  const context = config.contexts[name]
  if (context === undefined) throw new UnknownContextError(name, Object.keys(config.contexts), file)
  return { name, context, explicit: nonEmpty(explicit) !== undefined }
}

function checkUrl (url: string, source: ConfigSource): void {
  if (!/^https?:\/\/[^/]/.test(url)) throw new InvalidDmUrlError(url, source)
  try { new URL(url) } catch { throw new InvalidDmUrlError(url, source) }
}

/** Resolves the DM URL and token (flags, --context, environment, current context, default). */
export function resolveDmConfig (inputs: DmConfigInputs = {}): DmConfig {
  const env = inputs.env ?? process.env
  const configFile = configFilePath(inputs.home, env)
  const flagUrl = nonEmpty(inputs.dm)
  if (flagUrl !== undefined) checkUrl(flagUrl, 'flag')
  const flagToken = nonEmpty(inputs.token)
  const envUrl = nonEmpty(env[ENV_DM_URL])
  const envToken = nonEmpty(env[ENV_DM_TOKEN])
  // the file is read only when a setting may come from it
  const needFile = (flagUrl ?? envUrl) === undefined || (flagToken ?? envToken) === undefined ||
    nonEmpty(inputs.context) !== undefined || nonEmpty(env[ENV_CONTEXT]) !== undefined
  const chosen = needFile ? chooseContext(readConfig(configFile), configFile, inputs.context, env) : undefined
  const contextSource: ConfigSource = chosen?.name === LEGACY_CONTEXT ? 'config file' : 'context'

  let url: string
  let urlSource: ConfigSource
  if (flagUrl !== undefined) [url, urlSource] = [flagUrl, 'flag']
  else if (chosen?.explicit === true) [url, urlSource] = [chosen.context.dm, contextSource]
  else if (envUrl !== undefined) [url, urlSource] = [envUrl, 'environment']
  else if (chosen !== undefined) [url, urlSource] = [chosen.context.dm, contextSource]
  else [url, urlSource] = [DEFAULT_DM_URL, 'default']
  checkUrl(url, urlSource)

  let token: string | undefined
  let tokenSource: ConfigSource | undefined
  const fromContext = (): string | undefined => chosen !== undefined ? contextToken(chosen.name, chosen.context) : undefined
  if (flagToken !== undefined) [token, tokenSource] = [flagToken, 'flag']
  else if (chosen?.explicit === true) [token, tokenSource] = [fromContext(), contextSource]
  else if (envToken !== undefined) [token, tokenSource] = [envToken, 'environment']
  else if (chosen !== undefined && urlSource !== 'flag' && urlSource !== 'environment') [token, tokenSource] = [fromContext(), contextSource]
  if (token === undefined) tokenSource = undefined

  return {
    url: url.replace(/\/+$/, ''), urlSource, token, tokenSource, configFile,
    ...(chosen !== undefined && (urlSource === 'context' || urlSource === 'config file') ? { context: chosen.name } : {})
  }
}

export interface SavedContext {
  name: string
  /** True when the context did not exist before. */
  created: boolean
  /** True when it is now the current context. */
  current: boolean
  file: string
}

/**
 * Adds or updates a context. It becomes current when `makeCurrent` is 'always', or when 'if-none' and there was
 * no current context.
 */
export async function saveContext (file: string, name: string, context: DmContext, makeCurrent: 'always' | 'if-none' | 'never'): Promise<SavedContext> {
  checkContextName(name)
  const config = readConfig(file)
  const created = config.contexts[name] === undefined
  config.contexts[name] = context
  const hasCurrent = config.current !== undefined && config.contexts[config.current] !== undefined
  if (makeCurrent === 'always' || (makeCurrent === 'if-none' && !hasCurrent)) config.current = name
  await writeConfig(file, config)
  return { name, created, current: config.current === name, file }
}

/**
 * The context name `dm start` uses for a data folder: the folder's name, or the same with a number when another
 * data folder already has that name.
 */
export function contextNameForDataDir (config: MeshconfConfig, dataDir: string): string {
  const base = (dataDir.split('/').filter(Boolean).at(-1) ?? 'dm').replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 56) || 'dm'
  for (let k = 1; ; k++) {
    const name = k === 1 ? base : `${base}-${k}`
    const existing = config.contexts[name]
    if (existing === undefined || existing.dataDir === dataDir) return name
  }
}
