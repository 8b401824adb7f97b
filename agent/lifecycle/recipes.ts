// An instance's recipe files, written to its working folder before its deploy script runs.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, normalize, sep } from 'node:path'
import type { RecipeFiles } from '../../protocol/messages.js'
import { InvalidRecipePathError } from '../errors.js'

/**
 * Deploy: the old files go, the component's received recipe files are written (reference §3.2, deploy).
 * `dir`: the instance's working folder; `component`: its component's name, whose recipe files are `files`.
 */
export async function writeRecipes (dir: string, component: string, files: RecipeFiles): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  for (const [file, content] of Object.entries(files)) {
    const relative = normalize(file)
    if (isAbsolute(relative) || relative === '..' || relative.startsWith(`..${sep}`)) {
      throw new InvalidRecipePathError(component, file)
    }
    const target = join(dir, relative)
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, Buffer.from(content, 'base64'))
  }
}
