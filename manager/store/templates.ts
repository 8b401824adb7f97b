// The store's application templates (with their files, and the warnings found when they were loaded).
import type { ApplicationTemplate, ModelError } from '../../protocol/model/types.js'
import type { Store, StoredTemplate, TemplateSummary } from '../store.js'
import type { StoreDb } from './statements.js'

/** The template as JSON: file contents in base64. */
function encodeTemplate (template: ApplicationTemplate): string {
  const files: Record<string, string> = {}
  for (const [path, content] of Object.entries(template.files)) files[path] = Buffer.from(content).toString('base64')
  return JSON.stringify({ ...template, files })
}

function decodeTemplate (text: string): ApplicationTemplate {
  const raw = JSON.parse(text) as Omit<ApplicationTemplate, 'files'> & { files: Record<string, string> }
  const files: Record<string, Uint8Array> = {}
  for (const [path, content] of Object.entries(raw.files)) files[path] = new Uint8Array(Buffer.from(content, 'base64'))
  return { ...raw, files }
}

export function templateStore ({ sql }: StoreDb): Pick<Store,
  'putTemplate' | 'hasTemplate' | 'getTemplate' | 'listTemplates' | 'deleteTemplate' | 'applicationsUsingTemplate'> {
  return {
    putTemplate (template: ApplicationTemplate, errors: ModelError[]): TemplateSummary {
      const { name, version, description } = template.descriptor
      const createdAt = new Date().toISOString()
      sql('INSERT INTO templates (name, version, description, created_at, model, errors) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, version, description ?? null, createdAt, encodeTemplate(template), JSON.stringify(errors))
      return { name, version, description, createdAt }
    },
    hasTemplate (name: string, version: string): boolean {
      return sql('SELECT 1 FROM templates WHERE name = ? AND version = ?').get(name, version) !== undefined
    },
    getTemplate (name: string, version: string): StoredTemplate | undefined {
      const row = sql('SELECT * FROM templates WHERE name = ? AND version = ?').get(name, version) as
        { name: string, version: string, description: string | null, created_at: string, model: string, errors: string } | undefined
      if (row === undefined) return undefined
      return {
        name: row.name, version: row.version, description: row.description ?? undefined, createdAt: row.created_at,
        template: decodeTemplate(row.model), errors: JSON.parse(row.errors)
      }
    },
    listTemplates (): TemplateSummary[] {
      const rows = sql('SELECT name, version, description, created_at FROM templates ORDER BY name, version').all() as
        Array<{ name: string, version: string, description: string | null, created_at: string }>
      return rows.map(r => ({ name: r.name, version: r.version, description: r.description ?? undefined, createdAt: r.created_at }))
    },
    deleteTemplate (name: string, version: string): boolean {
      return sql('DELETE FROM templates WHERE name = ? AND version = ?').run(name, version).changes > 0
    },
    applicationsUsingTemplate (name: string, version: string): string[] {
      return (sql('SELECT name FROM applications WHERE template_name = ? AND template_version = ? ORDER BY name')
        .all(name, version) as Array<{ name: string }>).map(r => r.name)
    }
  }
}
