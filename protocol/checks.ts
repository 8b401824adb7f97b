// The field checks the DM<->agent wire input is parsed with (messages.ts, agent-endpoint.ts, embedded-frames.ts): a
// malformed value is rejected with an error naming the faulty field, logged and counted by the receiver, and never
// reaches the engine.
import { errorMessage } from './errors.js'

/** The input is not JSON, or a field is missing or has the wrong type. */
export class MalformedMessageError extends Error {
  /** The faulty field, e.g. `model.instance.children[0].name`; '' for the whole message. */
  readonly field: string
  constructor (field: string, problem: string) {
    super(`invalid message${field === '' ? '' : ` field '${field}'`}: ${problem}`)
    this.name = 'MalformedMessageError'
    this.field = field
  }
}

/** Decodes wire bytes (UTF-8 JSON) into a value to parse; throws MalformedMessageError on bad JSON. */
export function decodeJson (raw: string | Uint8Array): unknown {
  const text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: false }).decode(raw)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new MalformedMessageError('', `not JSON (${errorMessage(err)}); starts with ${JSON.stringify(text.slice(0, 40))}`)
  }
}

export type Check<T> = (value: unknown, field: string) => T

export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60)
}

/** The path of `key` inside `field`, for errors: `model.instance` + `name`. */
export function fieldOf (field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`
}

export const str: Check<string> = (value, field) => {
  if (typeof value !== 'string') throw new MalformedMessageError(field, `expected a string, got ${describe(value)}`)
  return value
}

export const num: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedMessageError(field, `expected a number, got ${describe(value)}`)
  return value
}

export const bool: Check<boolean> = (value, field) => {
  if (typeof value !== 'boolean') throw new MalformedMessageError(field, `expected a boolean, got ${describe(value)}`)
  return value
}

export const nullableStr: Check<string | null> = (value, field) => value === null ? null : str(value, field)

export function obj (value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedMessageError(field, `expected an object, got ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

export function arrayOf<T> (check: Check<T>): Check<T[]> {
  return (value, field) => {
    if (!Array.isArray(value)) throw new MalformedMessageError(field, `expected an array, got ${describe(value)}`)
    return value.map((item, i) => check(item, `${field}[${i}]`))
  }
}

export function recordOf<T> (check: Check<T>): Check<Record<string, T>> {
  return (value, field) => {
    const o = obj(value, field)
    for (const [key, item] of Object.entries(o)) check(item, fieldOf(field, key))
    return o as Record<string, T>
  }
}

export function optional<T> (check: Check<T>): Check<T | undefined> {
  return (value, field) => value === undefined ? undefined : check(value, field)
}

/** An optional field on the wire that is filled in with `fallback` when absent, so that it is required once parsed. */
export function withDefault<T> (check: Check<T>, fallback: T): Check<T> {
  return (value, field) => value === undefined ? fallback : check(value, field)
}

/** Checks the listed fields of an object and returns it typed (unknown extra fields are kept: newer senders). */
export function shape<T> (fields: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  return (value, field) => {
    const o = obj(value, field)
    for (const [key, check] of Object.entries(fields) as Array<[string, Check<unknown>]>) {
      const checked = check(o[key], fieldOf(field, key))
      if (o[key] === undefined && checked !== undefined) o[key] = checked
    }
    return o as T
  }
}

/** For fields already checked by the caller, or checked later (frame bodies). */
export const anything: Check<unknown> = value => value

export const strings = arrayOf(str)
export const stringRecord = recordOf(str)
