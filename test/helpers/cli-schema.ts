// The CLI's JSON convention as shipped (docs/cli-output.schema.json), compiled once for the tests that check documents.
import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'

const schema = JSON.parse(readFileSync(new URL('../../docs/cli-output.schema.json', import.meta.url), 'utf8')) as object

/** Validates one document; `validateCliDocument.errors` says why it does not match. */
export const validateCliDocument = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema)
