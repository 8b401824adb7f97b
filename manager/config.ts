// Where the CLI finds the DM: flags, else environment, else ~/.meshconf/config.json, else the local default.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { errorMessage } from '../protocol/errors.js'

/** The DM's HTTP port when nothing says otherwise (the REST contract's default). */
export const DEFAULT_DM_PORT = 7400
export const DEFAULT_DM_URL = `http://127.0.0.1:${DEFAULT_DM_PORT}`
/** Environment variables read by the CLI. */
export const ENV_DM_URL = 'MESHCONF_DM'
export const ENV_DM_TOKEN = 'MESHCONF_TOKEN'

/** Where a value came from, so error messages can say which setting to fix. */
export type ConfigSource = 'flag' | 'environment' | 'config file' | 'default'

export interface DmConfig {
  /** Base URL of the DM, without a trailing slash (e.g. `http://127.0.0.1:7400`). */
  url: string
  urlSource: ConfigSource
  /** Bearer token; undefined when no setting gives one (the DM will answer 401). */
  token?: string
  tokenSource?: ConfigSource
  /** The config file that was read (or would have been). */
  configFile: string
}

export interface DmConfigInputs {
  /** `--dm` */
  dm?: string
  /** `--token` */
  token?: string
  /** Environment; default process.env. */
  env?: NodeJS.ProcessEnv
  /** Home folder holding `.meshconf/`; default os.homedir(). */
  home?: string
}

/** The config file is unreadable or not the expected JSON. */
export class ConfigFileError extends Error {
  constructor (readonly file: string, reason: string) {
    super(`cannot use ${file}: ${reason} (expected JSON {"dm": "http://host:${DEFAULT_DM_PORT}", "token": "..."}; fix or delete it, or pass --dm and --token)`)
    this.name = 'ConfigFileError'
  }
}

/** A DM URL that is not an http(s) URL. */
export class InvalidDmUrlError extends Error {
  constructor (readonly value: string, readonly source: ConfigSource) {
    super(`the DM URL "${value}" (from ${sourceLabel(source)}) is not an http:// or https:// URL, e.g. ${DEFAULT_DM_URL}`)
    this.name = 'InvalidDmUrlError'
  }
}

export function configFilePath (home: string = homedir()): string {
  return join(home, '.meshconf', 'config.json')
}

function sourceLabel (source: ConfigSource): string {
  switch (source) {
    case 'flag': return '--dm'
    case 'environment': return ENV_DM_URL
    case 'config file': return 'the config file'
    case 'default': return 'the default'
  }
}

interface ConfigFileContent { dm?: string, token?: string }

function readConfigFile (file: string): ConfigFileContent {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigFileError(file, errorMessage(err))
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigFileError(file, `invalid JSON (${errorMessage(err)})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigFileError(file, 'not a JSON object')
  const { dm, token } = parsed as Record<string, unknown>
  if (dm !== undefined && typeof dm !== 'string') throw new ConfigFileError(file, '"dm" is not a string')
  if (token !== undefined && typeof token !== 'string') throw new ConfigFileError(file, '"token" is not a string')
  return { dm, token }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined
}

/** Resolves the DM URL and token: flags first, then environment, then the config file (read only when needed). */
export function resolveDmConfig (inputs: DmConfigInputs = {}): DmConfig {
  const env = inputs.env ?? process.env
  const configFile = configFilePath(inputs.home)
  let fileContent: ConfigFileContent | undefined
  const file = (): ConfigFileContent => (fileContent ??= readConfigFile(configFile))

  let url: string
  let urlSource: ConfigSource
  const flagUrl = nonEmpty(inputs.dm)
  const envUrl = nonEmpty(env[ENV_DM_URL])
  if (flagUrl !== undefined) [url, urlSource] = [flagUrl, 'flag']
  else if (envUrl !== undefined) [url, urlSource] = [envUrl, 'environment']
  else if (nonEmpty(file().dm) !== undefined) [url, urlSource] = [nonEmpty(file().dm) as string, 'config file']
  else [url, urlSource] = [DEFAULT_DM_URL, 'default']
  if (!/^https?:\/\/[^/]/.test(url)) throw new InvalidDmUrlError(url, urlSource)
  try { new URL(url) } catch { throw new InvalidDmUrlError(url, urlSource) }

  let token: string | undefined
  let tokenSource: ConfigSource | undefined
  const flagToken = nonEmpty(inputs.token)
  const envToken = nonEmpty(env[ENV_DM_TOKEN])
  if (flagToken !== undefined) [token, tokenSource] = [flagToken, 'flag']
  else if (envToken !== undefined) [token, tokenSource] = [envToken, 'environment']
  else if (nonEmpty(file().token) !== undefined) [token, tokenSource] = [nonEmpty(file().token), 'config file']

  return { url: url.replace(/\/+$/, ''), urlSource, token, tokenSource, configFile }
}
