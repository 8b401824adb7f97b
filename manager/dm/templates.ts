// Application templates: loaded from a folder or zip on the DM's host, or from an uploaded zip (read once, its entry
// names checked as it is read), kept in the store, deleted when no application uses them.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { isAbsolute, sep } from 'node:path'
import { errorMessage } from '../../protocol/errors.js'
import { loadApplicationTemplate, loadApplicationTemplateFromFiles, modelError, readZip, UnsafeZipError } from '../../protocol/model/index.js'
import type { LoadResult } from '../../protocol/model/types.js'
import {
  InvalidTemplateError, TemplateExistsError, TemplateInUseError, TemplateNotFoundError, TemplateSourceError, UnsafePathError
} from '../errors.js'
import { withPuppetSyntax } from '../puppet-syntax.js'
import type { DmCore } from './core.js'
import type { DeploymentManager, LoadedTemplate } from './types.js'

export type Templates = Pick<DeploymentManager, 'loadTemplateFromPath' | 'loadTemplateFromZip' | 'listTemplates' | 'deleteTemplate'>

/**
 * Loads a template zip. An entry whose name would land outside the template folder ('..', absolute names, drive
 * letters) is refused as an unsafe path, an unreadable archive as a bad source.
 */
async function loadZip (zip: Buffer, where: string, smtp: boolean): Promise<LoadResult> {
  try {
    const content = await readZip(zip)
    return loadApplicationTemplateFromFiles(content.files, content.directories, { smtp })
  } catch (err) {
    if (err instanceof UnsafeZipError && err.entry !== undefined) throw new UnsafePathError('zip entry', err.entry)
    // limits (size, entries, expansion): a finding on the template, as for a folder
    if (err instanceof UnsafeZipError) return { errors: [modelError('PROJ_EXTRACT_ZIP', undefined, undefined, err.message)] }
    throw new TemplateSourceError(`${where} is not a readable zip archive (${errorMessage(err)}): send the template folder zipped`)
  }
}

export function createTemplates (core: DmCore): Templates {
  const { store } = core

  function register (result: LoadResult, where: string): LoadedTemplate {
    if (result.template === undefined || result.errors.some(e => e.level === 'SEVERE')) throw new InvalidTemplateError(where, result.errors)
    const { name, version } = result.template.descriptor
    if (store.hasTemplate(name, version)) throw new TemplateExistsError(name, version)
    const saved = store.putTemplate(result.template, result.errors)
    core.emit({ type: 'template', name, version, action: 'created', at: saved.createdAt })
    return { ...saved, errors: result.errors }
  }

  return {
    async loadTemplateFromPath (path) {
      if (!isAbsolute(path)) throw new TemplateSourceError(`the template path ${JSON.stringify(path)} is not absolute: give the full path of a folder or zip on the DM's host`)
      if (path.split(/[\\/]/).includes('..')) throw new UnsafePathError('template path', path)
      if (!existsSync(path)) throw new TemplateSourceError(`nothing at ${path} on the DM's host: give the path of a template folder or zip`)
      const { smtp, templatesRoot } = core.settings
      if (templatesRoot !== undefined) {
        // Real paths: a symbolic link inside the root must not lead out of it.
        const root = realpathSync(templatesRoot)
        const real = realpathSync(path)
        if (real !== root && !real.startsWith(`${root}${sep}`)) {
          throw new TemplateSourceError(`${path} is outside the templates root ${templatesRoot} (--templates-root): ` +
            'copy the template under it, or upload it as a zip')
        }
      }
      const result = statSync(path).isFile() ? await loadZip(readFileSync(path), path, smtp) : await loadApplicationTemplate(path, { smtp })
      return register(await withPuppetSyntax(result), path)
    },

    async loadTemplateFromZip (zip) {
      return register(await withPuppetSyntax(await loadZip(zip, 'the upload', core.settings.smtp)), 'the uploaded zip')
    },

    listTemplates () {
      return store.listTemplates()
    },

    deleteTemplate (name, version) {
      if (!store.hasTemplate(name, version)) throw new TemplateNotFoundError(name, version)
      const users = store.applicationsUsingTemplate(name, version)
      if (users.length > 0) throw new TemplateInUseError(name, version, users)
      store.deleteTemplate(name, version)
      core.forgetTemplate(name, version)
      core.emit({ type: 'template', name, version, action: 'deleted', at: new Date().toISOString() })
    }
  }
}
