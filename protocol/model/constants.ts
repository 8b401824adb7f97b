// Limits and patterns of the application model. Limits protect the DM and the CLI from hostile templates.

/** Largest model file (graph, instances, descriptor, commands, rules) read as text, in bytes (default 4 MiB). */
export const MAX_MODEL_FILE_BYTES = 4 * 1024 * 1024

/** Largest .zip accepted as an application template, in bytes (default 64 MiB). */
export const MAX_ZIP_BYTES = 64 * 1024 * 1024

/** Sum of the uncompressed sizes of a template's zip entries, in bytes (default 128 MiB): stops zip bombs. */
export const MAX_ZIP_UNCOMPRESSED_BYTES = 128 * 1024 * 1024

/** Number of entries in a template zip (default 20 000). */
export const MAX_ZIP_ENTRIES = 20_000

/** Deepest nesting of `instance of` blocks in one file (default 64 levels; Roboconf models rarely pass 5). */
export const MAX_INSTANCE_NESTING = 64

/** Instances a template may define once `count` is expanded (default 200 000). */
export const MAX_INSTANCES = 200_000

/** Errors kept per file before the rest are summarised (default 200): a garbage file must not flood the output. */
export const MAX_ERRORS_PER_FILE = 200

/** Longest instruction of a commands file, continuations joined, in characters (default 4 096). */
export const MAX_COMMAND_LINE_CHARS = 4096

/** Roboconf's DSL identifier, written in new descriptors. */
export const DSL_ID = 'roboconf-1.0'

/** Installer of root (scoped) components. */
export const TARGET_INSTALLER = 'target'

/** `[a-zA-Z_](\w|-|\.)*`: component, facet and variable names (Roboconf's PATTERN_ID). */
export const PATTERN_ID = /^[a-zA-Z_][\w.-]*$/
/** `[a-zA-Z_](\w|-| |\.)*`: instance and installer names (Roboconf's PATTERN_FLEX_ID). */
export const PATTERN_FLEX_ID = /^[a-zA-Z_][\w. -]*$/
/** Imported variable: an ID, optionally ending with the wildcard `.*`. */
export const PATTERN_IMPORT = /^[a-zA-Z_][\w.-]*(\.\*)?$/
/** Application names (after removing accents). */
export const PATTERN_APP_NAME = /^[a-zA-Z_][\w.() -]*$/
/** Application versions: `<major>.<minor>[.<patch>][(.|-)<qualifier>]`. */
export const PATTERN_VERSION = /^(\d+)\.(\d+)(\.\d+)?([.-].+)?$/

/** Known kinds of `random[kind]` exports (upper case). */
export const RANDOM_KINDS = ['PORT']
