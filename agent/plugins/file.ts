// The `file` plug-in: runs the instructions of `instructions.properties` (in the instance's folder) for a step:
// keys `<step>.<n>.<type>` with type delete (`path`), download (`url`, saved as <tmp>/roboconf_tmp_file),
// move and copy (`source -> destination`), run in increasing <n>. Relative paths are relative to the instance folder.
import { cp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { FileInstructionError } from '../errors.js'
import { parseProperties } from './properties.js'
import type { ExecutionContext, LifecycleStep, Plugin } from './types.js'

const INSTRUCTION_TYPES = ['delete', 'download', 'move', 'copy'] as const
type InstructionType = typeof INSTRUCTION_TYPES[number]

/** Where `download` saves what it fetches (Roboconf's name). */
export const DOWNLOAD_FILE_NAME = 'roboconf_tmp_file'

export function createFilePlugin (): Plugin {
  const run = (step: LifecycleStep) => async (context: ExecutionContext): Promise<void> => {
    await runInstructions(step, context)
  }
  return {
    name: 'file',
    initialize: async () => {},
    deploy: run('deploy'),
    start: run('start'),
    update: run('update'),
    stop: run('stop'),
    undeploy: run('undeploy')
  }
}

interface Instruction { key: string, order: number, type: InstructionType, value: string }

async function runInstructions (step: LifecycleStep, context: ExecutionContext): Promise<void> {
  let text: string
  try {
    text = await readFile(join(context.instanceDir, 'instructions.properties'), 'utf8')
  } catch {
    context.log.warn(`[${context.instance.path}] file plug-in: no instructions.properties; nothing to do for ${step}`)
    return
  }
  const instructions: Instruction[] = []
  for (const [key, value] of parseProperties(text)) {
    const parts = key.split('.')
    if (parts[0] !== step) continue
    const order = Number(parts[1])
    const type = parts[2] as InstructionType
    if (parts.length !== 3 || !Number.isInteger(order) || !INSTRUCTION_TYPES.includes(type)) {
      throw new FileInstructionError(key, `expected <step>.<number>.<${INSTRUCTION_TYPES.join('|')}>`)
    }
    instructions.push({ key, order, type, value })
  }
  instructions.sort((a, b) => a.order - b.order)
  const at = (p: string): string => resolve(context.instanceDir, p)
  for (const { key, type, value } of instructions) {
    context.log.info(`[${context.instance.path}] file plug-in: ${key} = ${value}`)
    if (type === 'delete') {
      await rm(at(value), { recursive: true, force: true })
    } else if (type === 'download') {
      const response = await fetch(value).catch((err: unknown) => {
        throw new FileInstructionError(key, `cannot download ${value}: ${String(err)}`)
      })
      if (!response.ok) throw new FileInstructionError(key, `download of ${value} answered HTTP ${response.status}`)
      await writeFile(join(tmpdir(), DOWNLOAD_FILE_NAME), Buffer.from(await response.arrayBuffer()))
    } else {
      const [source, destination] = value.split('->').map(s => s.trim())
      if (source === undefined || destination === undefined || source === '' || destination === '') {
        throw new FileInstructionError(key, 'expected "source -> destination"')
      }
      if (type === 'move') await rename(at(source), at(destination))
      else await cp(at(source), at(destination), { recursive: true })
    }
  }
}
