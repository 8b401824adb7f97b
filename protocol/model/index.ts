// Public API of the application model: loading and validating templates, parsing and writing the DSL, and the
// instance export rules (exports.ts).
export * from './types.js'
export * from './exports.js'
export { formatModelError, hasSevere, levelOf, modelError } from './errors.js'
export { parseFile, serializeFile, splitComment, type Block, type FileDefinition, type FileKind, type HolderBlock } from './parser.js'
export { parseExports, parseImport, validateBlocks } from './syntax.js'
export { GraphResolver, loadGraph, parseGraph, type GraphDefinition, type TypeDefinition } from './graph.js'
export { readImportedFiles, resolveImport, type TextReader } from './files.js'
export { allInstances, assignPaths, instanceSources, loadInstances, parseInstances, validateInstances } from './instances.js'
export { parseDescriptor, DESCRIPTOR_PATH } from './descriptor.js'
export { parseProperties } from './properties.js'
export {
  decodeModelFile, loadApplicationTemplate, loadApplicationTemplateFromFiles, loadApplicationTemplateFromZip, type LoadOptions
} from './template.js'
export { parseRule } from './rules.js'
export { readZip, safeEntryName, UnsafeZipError } from './zip.js'
export { UnwritableValueError, writeGraph, writeInstances } from './writer.js'
export {
  COMMANDS_EXTENSION, COMMANDS_FOLDER, COMMANDS_TMP_FOLDER, commandFilesOf, commandNameOf, dataFilePath, formatDate, parseCommands,
  type BulkAction, type CommandInstruction, type CommandsContext, type ParsedCommands
} from './commands.js'
