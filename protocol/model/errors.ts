// Roboconf's error codes (reference Appendix B) with their levels, and meshconf's own messages: each says what is
// wrong and how to fix it. `detail` names the offending element (a name, a value, a path).
import { MAX_ERRORS_PER_FILE } from './constants.js'
import type { ErrorLevel, ModelError } from './types.js'

const WARNINGS = new Set([
  'P_EMPTY_FILE', 'PM_UNKNOWN_PROPERTY_NAME', 'PM_USELESS_INSTANCE_COUNT', 'PM_MALFORMED_COMMENT', 'PM_MALFORMED_BLANK',
  'RM_MISSING_APPLICATION_DSL_ID', 'RM_MAGIC_INSTANCE_VARIABLE', 'RM_AMBIGUOUS_OVERRIDING', 'RM_ORPHAN_FACET',
  'RM_ORPHAN_FACET_WITH_CHILDREN', 'PROJ_DELETE_TEMP', 'PROJ_NO_RESOURCE_DIRECTORY', 'PROJ_UNREACHABLE_FILE',
  'PROJ_INVALID_FILE_LOCATION', 'REC_TARGET_NO_NAME', 'CMD_NO_INSTRUCTION', 'REC_PUPPET_DISLIKES_WILDCARD_IMPORTS',
  'REC_PUPPET_MISSING_PARAM_FROM_IMPORT'
])

const MESSAGES: Record<string, (d: string) => string> = {
  P_IO_ERROR: d => `the file could not be read (${d})`,
  P_ONE_BLOCK_PER_LINE: d => `extra text after the semicolon${at(d)}: write one property or import per line`,
  P_PROPERTY_ENDS_WITH_SEMI_COLON: d => `property${at(d)} does not end with ';': add a semicolon at the end of the line`,
  P_IMPORT_ENDS_WITH_SEMI_COLON: d => `import${at(d)} does not end with ';': write 'import file.graph;'`,
  P_O_C_BRACKET_EXTRA_CHARACTERS: d => `text after '{'${at(d)}: only a comment may follow the opening bracket`,
  P_C_C_BRACKET_EXTRA_CHARACTERS: d => `text after '}'${at(d)}: only a comment may follow the closing bracket, put the rest on its own line`,
  P_O_C_BRACKET_MISSING: d => `block header${at(d)} has no '{': write 'Name {' on one line`,
  P_C_C_BRACKET_MISSING: d => `block${at(d)} is not closed: add a line starting with '}'`,
  P_UNRECOGNIZED_BLOCK: d => `line${at(d)} is not an import, a facet, an instance or a component: fix the syntax or comment it out with '#'`,
  P_INVALID_PROPERTY: d => `expected 'name: value;' inside the block${at(d)}: fix the line or close the block with '}'`,
  P_INVALID_PROPERTY_OR_INSTANCE: d => `expected 'name: value;' or 'instance of Component {'${at(d)}: fix the line or close the block`,
  P_INVALID_FILE_TYPE: () => 'the file mixes instances with components or facets: put instances in instances/*.instances and components in graph/*.graph',
  P_EMPTY_FILE: () => 'the file holds no statement: add definitions or remove the file',
  PM_INVALID_BLOCK_TYPE: () => 'a part of the file could not be understood after a syntax error: fix the error reported above it',
  PM_UNKNOWN_PROPERTY_NAME: d => `unknown property${at(d)}: check its spelling`,
  PM_FORBIDDEN_NAME: d => `the name${at(d)} is reserved: choose another one`,
  PM_EMPTY_PROPERTY_VALUE: d => `property${at(d)} has no value: write 'name: value;' or remove the line`,
  PM_EMPTY_IMPORT_LOCATION: () => 'the import names no file: write \'import other.graph;\'',
  PM_EMPTY_FACET_NAME: () => 'the facet has no name: write \'facet Name {\'',
  PM_EMPTY_REFERENCED_NAME: d => `empty name in the list${at(d)}: remove the extra comma`,
  PM_EMPTY_COMPONENT_NAME: () => 'no component name: write \'Name {\' or \'instance of Component {\'',
  PM_EMPTY_VARIABLE_NAME: d => `empty variable name${at(d)}: remove the extra comma or name the variable`,
  PM_INVALID_CHILD_NAME: d => `invalid child name${at(d)}: children are component or facet names ([a-zA-Z_][a-zA-Z0-9_.-]*) separated by commas, without quotes`,
  PM_INVALID_NAME: d => `invalid name${at(d)}: use letters, digits, '_', '-' or '.', starting with a letter or '_', without quotes or spaces`,
  PM_INVALID_EXPORT_COMPLEX_VALUE: d => `badly quoted value${at(d)}: write name = "value", with nothing before the opening quote and nothing but a comma after the closing one`,
  PM_INVALID_EXPORTED_VAR_NAME: d => `invalid exported variable${at(d)}: names use letters, digits, '_', '-', '.' and are separated by commas`,
  PM_EXTERNAL_IS_KEYWORD_FOR_IMPORTS: d => `'external' is only allowed in imports${at(d)}: remove it from the exports`,
  PM_INVALID_IMPORTED_VAR_NAME: d => `invalid imported variable${at(d)}: write Prefix.variable or Prefix.*, separated by commas`,
  PM_INVALID_INSTALLER_NAME: d => `invalid installer name${at(d)}: use letters, digits, '_', '-', '.' or spaces, without quotes`,
  PM_INVALID_INSTANCE_ELEMENT: () => 'an instance may only hold properties, nested instances, comments and blank lines: move the element out',
  PM_INVALID_INSTANCE_COUNT: d => `invalid count${at(d)}: 'count' must be a whole number of at least 1`,
  PM_USELESS_INSTANCE_COUNT: () => '\'count: 1\' is the default: remove the line',
  PM_PROPERTY_NOT_APPLIABLE: d => `property${at(d)} is not allowed here: components accept installer, children, exports, imports, facets, extends; facets accept children, exports, extends (names are case-sensitive)`,
  PM_DUPLICATE_PROPERTY: d => `property${at(d)} is set twice: only imports and exports may be repeated, merge the lines`,
  PM_MISSING_INSTANCE_NAME: () => 'the instance has no name: add \'name: my-instance;\'',
  PM_INVALID_INSTANCE_NAME: d => `invalid instance name${at(d)}: use letters, digits, '_', '-', '.' or spaces, starting with a letter or '_'`,
  PM_DOT_IS_NOT_ALLOWED: d => `component and facet names cannot contain '.'${at(d)}: rename it`,
  PM_INCOMPLETE_IMPORTED_VAR_NAME: d => `imported variable${at(d)} has no prefix: write Component.variable, Facet.variable or Component.*`,
  PM_MALFORMED_COMMENT: () => 'a comment line does not start with \'#\'',
  PM_MALFORMED_BLANK: () => 'a blank section holds text',
  CO_NOT_A_GRAPH: d => `a graph file was expected${at(d)}: graph files hold components, facets and imports only`,
  CO_NOT_INSTANCES: d => `an instances file was expected${at(d)}: instances files hold 'instance of' blocks and imports only`,
  CO_UNREACHABLE_FILE: d => `imported file${at(d)} does not exist: imports are resolved from the graph/ (or instances/) folder, fix the path`,
  CO_ALREADY_DEFINED_FACET: d => `facet${at(d)} is defined more than once: keep a single definition across all imported files`,
  CO_ALREADY_DEFINED_COMPONENT: d => `component${at(d)} is defined more than once: keep a single definition across all imported files`,
  CO_CYCLE_IN_COMPONENTS_INHERITANCE: d => `component${at(d)} extends itself: break the 'extends' cycle`,
  CO_ALREADY_DEFINED_INSTANCE: d => `instance${at(d)} is defined more than once with the same path: rename one of them`,
  CO_CONFLICTING_INFERRED_INSTANCE: d => `'count' generates instance${at(d)}, which already exists: rename the instance or change its count`,
  CO_INEXISTING_CHILD: d => `no component or facet named${at(d)}: fix the child name or define it`,
  CO_INEXISTING_COMPONENT: d => `no component named${at(d)}: fix the name (names are case-sensitive) or define the component`,
  CO_INEXISTING_FACET: d => `no facet named${at(d)}: fix the name or define 'facet ${d} { }'`,
  CO_CONFLICTING_NAME: d => `a facet and a component are both named${at(d)}: rename one of them`,
  CO_GRAPH_COULD_NOT_BE_BUILT: () => 'the graph could not be built: fix the errors above',
  RM_MISSING_APPLICATION_NAME: () => 'the descriptor has no application name: add \'name = My Application\'',
  RM_INVALID_APPLICATION_NAME: d => `invalid application name${at(d)}: use letters, digits, '_', '-', '.', '(', ')' or spaces, starting with a letter or '_'`,
  RM_MISSING_APPLICATION_DSL_ID: () => 'the descriptor has no DSL id: add \'dsl-id = roboconf-1.0\'',
  RM_MISSING_APPLICATION_VERSION: () => 'the descriptor has no version: add \'version = 1.0.0\'',
  RM_MISSING_APPLICATION_GEP: () => 'the descriptor names no graph entry point: add \'graph-entry-point = main.graph\'',
  RM_MISSING_APPLICATION_GRAPHS: () => 'the application has no graph: add graph/*.graph and name it in the descriptor',
  RM_MISSING_APPLICATION_EXPORT_PREFIX: () => 'the descriptor exports variables but has no prefix: add \'exports-prefix = MyApp\'',
  RM_INVALID_APPLICATION_VERSION: d => `invalid version${at(d)}: write <major>.<minor>[.<patch>][-qualifier], e.g. 1.0.2-SNAPSHOT`,
  RM_DOT_IS_NOT_ALLOWED: d => `component and facet names cannot contain '.'${at(d)}: rename it`,
  RM_EMPTY_COMPONENT_NAME: () => 'a component has an empty name',
  RM_EMPTY_FACET_NAME: () => 'a facet has an empty name',
  RM_INVALID_COMPONENT_NAME: d => `invalid component name${at(d)}`,
  RM_INVALID_FACET_NAME: d => `invalid facet name${at(d)}`,
  RM_EMPTY_COMPONENT_INSTALLER: d => `component${at(d)} has no installer: add 'installer: script;' (or target, puppet, file, logger), or extend a component that has one`,
  RM_INVALID_COMPONENT_INSTALLER: d => `invalid installer for component${at(d)}`,
  RM_COMPONENT_IMPORTS_EXPORTS: d => `the component imports${at(d)}, which it exports itself: mark the import '(optional)' (cluster pattern) or remove it`,
  RM_ROOT_INSTALLER_MUST_BE_TARGET: d => `root component${at(d)} must use 'installer: target;' (root components are machines), or list it as a child of another component`,
  RM_EMPTY_VARIABLE_NAME: d => `empty variable name${at(d)}`,
  RM_INVALID_VARIABLE_NAME: d => `invalid variable name${at(d)}: use letters, digits, '_', '-', '.'`,
  RM_INVALID_APPLICATION_EXPORT_PREFIX: d => `invalid exports prefix${at(d)}: use letters, digits, '_', '-', '.'`,
  RM_MAGIC_INSTANCE_VARIABLE: d => `the instance sets${at(d)}, which its component does not export: it is exported as written; check the spelling`,
  RM_MISSING_VARIABLE_VALUE: d => `variable${at(d)} has no value: give it a default in the graph ('${d} = value') or a value in the instance`,
  RM_AMBIGUOUS_OVERRIDING: d => `${d} overrides several inherited variables: prefix it (Component.variable) to override only one`,
  RM_INVALID_EXTERNAL_EXPORT: d => `the descriptor exports${at(d)}, which no component exports: use Component.variable as in the graph`,
  RM_ALREADY_DEFINED_EXTERNAL_EXPORT: d => `the alias${at(d)} is used twice in the descriptor's exports: use distinct aliases`,
  RM_INVALID_RANDOM_KIND: d => `unknown random kind${at(d)}: only random[port] exists`,
  RM_NO_VALUE_FOR_RANDOM: d => `random variable${at(d)} cannot have a value: remove '= value' or remove 'random[port]'`,
  RM_CYCLE_IN_COMPONENTS: d => `containment cycle${at(d)}: a component cannot (indirectly) contain itself, fix the children lists`,
  RM_CYCLE_IN_COMPONENTS_INHERITANCE: d => `inheritance cycle${at(d)}: a component cannot (indirectly) extend itself`,
  RM_CYCLE_IN_FACETS_INHERITANCE: d => `facet inheritance cycle${at(d)}: a facet cannot (indirectly) extend itself`,
  RM_NO_ROOT_COMPONENT: () => 'no root component: at least one component (installer: target) must not be the child of another',
  RM_NOT_A_ROOT_COMPONENT: d => `component${at(d)} is used as a root but has parents`,
  RM_UNRESOLVABLE_VARIABLE: d => `no component exports${at(d)}: fix the import (names are case-sensitive) or mark it 'external' for another application`,
  RM_UNRESOLVABLE_FACET_VARIABLE: d => `${d} is a facet variable but no component has this facet: give a component the facet or remove the import`,
  RM_EMPTY_INSTANCE_NAME: () => 'an instance has an empty name',
  RM_INVALID_INSTANCE_NAME: d => `invalid instance name${at(d)}: use letters, digits, '_', '-', '.' or spaces`,
  RM_EMPTY_INSTANCE_COMPONENT: () => 'an instance has no component',
  RM_MISSING_INSTANCE_PARENT: d => `instance${at(d)} must be nested in a parent instance: its component is not a root component`,
  RM_INVALID_INSTANCE_PARENT: d => `instance${at(d)} cannot be nested in this parent: the graph does not list its component among the parent's children`,
  RM_UNREACHABLE_COMPONENT: d => `component${at(d)} can never be instantiated: only an unused facet lists it as a child`,
  RM_ORPHAN_FACET: d => `facet${at(d)} is used by no component`,
  RM_ORPHAN_FACET_WITH_CHILDREN: d => `facet${at(d)} has children but no component uses it`,
  PROJ_NO_GRAPH_DIR: () => 'no graph/ folder: an application template needs graph/*.graph',
  PROJ_NO_DESC_DIR: () => 'no descriptor/ folder: add descriptor/application.properties',
  PROJ_NO_DESC_FILE: () => 'no descriptor/application.properties: add it with name, version, dsl-id and graph-entry-point',
  PROJ_MISSING_GRAPH_EP: d => `graph entry point${at(d)} not found under graph/: fix graph-entry-point in the descriptor`,
  PROJ_MISSING_INSTANCE_EP: d => `instances entry point${at(d)} not found under instances/: fix instance-entry-point in the descriptor`,
  PROJ_APPLICATION_TEMPLATE_NOT_FOUND: d => `no application template there (${d}): give the path of a template folder or .zip`,
  PROJ_EXTRACT_ZIP: d => `the zip could not be read: ${d}`,
  PROJ_READ_DESC_FILE: d => `the descriptor could not be read: ${d}`,
  PROJ_INVALID_EXTERNAL_EXPORTS: d => `invalid external export${at(d)}: write 'exports = Component.variable as alias, ...'`,
  PROJ_NO_RESOURCE_DIRECTORY: d => `component${at(d)} has no recipe folder graph/${d}/: add one (or ignore this if an extended component provides it)`,
  PROJ_INVALID_COMMAND_EXT: d => `${d} is in commands/ but does not end with .commands: rename or move it`,
  PROJ_INVALID_RULE_EXT: d => `${d} is in rules.autonomic/ but does not end with .drl: rename or move it`,
  PROJ_UNREACHABLE_FILE: d => `${d} is not imported from the entry points: import it or remove it`,
  PROJ_INVALID_FILE_LOCATION: d => `${d} is not where its kind belongs: .graph files go under graph/, .instances files under instances/`,
  REC_TARGET_NO_ID: d => `target properties${at(d)} have no 'id': add 'id = my-target'`,
  REC_TARGET_NO_HANDLER: d => `target properties${at(d)} have no 'handler': add e.g. 'handler = in-memory'`,
  REC_TARGET_NO_NAME: d => `target properties${at(d)} have no 'name': add 'name = ...' so operators recognise the target`,
  REC_TARGET_CONFLICTING_ID: d => `target id${at(d)} is used by several target files: make ids unique`,
  REC_TARGET_NO_PROPERTIES: d => `no *.properties target file in graph/${d}/: add target.properties`,
  REC_TARGET_INVALID_FILE_OR_CONTENT: d => `target properties${at(d)} could not be read`,
  REC_SCRIPT_NO_SCRIPTS_DIR: d => `the script recipe of${at(d)} has files but no scripts/ folder: put deploy.sh, start.sh, ... under graph/<component>/scripts/`,
  REC_PUPPET_DISLIKES_WILDCARD_IMPORTS: d => `puppet component${at(d)} imports a wildcard (Prefix.*): Puppet modules may not cope, prefer the variables by name`,
  REC_PUPPET_HAS_NO_RBCF_MODULE: d => `puppet component${at(d)} has no module folder named roboconf_*: put the module under graph/<component>/roboconf_<name>/`,
  REC_PUPPET_HAS_TOO_MANY_RBCF_MODULES: d => `puppet component${at(d)} has several module folders named roboconf_*: keep one`,
  REC_PUPPET_MISSING_PARAM_IMPORT_DIFF: d => `the class of${at(d)} has no $importDiff parameter, which updates pass: add '$importDiff = undef'`,
  REC_PUPPET_MISSING_PARAM_RUNNING_STATE: d => `the class of${at(d)} has no $runningState parameter, which every step passes: add '$runningState = undef'`,
  REC_PUPPET_MISSING_PARAM_FROM_IMPORT: d => `the class has no parameter${at(d)} for the variables of that imported prefix: add '${d} = undef'`,
  REC_PUPPET_SYNTAX_ERROR: d => `'puppet parser validate' finds errors: ${d}`,
  RULE_INVALID_SYNTAX: () => 'not a rule: write rule "name" when <event> then <command> end',
  RULE_EMPTY_NAME: () => 'the rule has no name: write rule "my-rule" ...',
  RULE_EMPTY_WHEN: () => 'the rule names no event after \'when\': give the event a probe sends',
  RULE_EMPTY_THEN: () => 'the rule runs no command after \'then\': name commands/<name>.commands files',
  RULE_IO_ERROR: d => `the rule file could not be read (${d})`,
  RULE_UNKNOWN_COMMAND: d => `the rule runs command${at(d)}, which has no commands/${d}.commands file`,
  CMD_INVALID_TARGET_ID: () => 'no target id after \'with\': write \'associate /VM with <target id>\'',
  CMD_NO_MATCHING_INSTANCE: d => `no instance${at(d)} at this point of the file: check the path (it starts with '/', names are case-sensitive) or create the instance first`,
  CMD_NOT_AN_ACCEPTABLE_PARENT: d => `component${at(d)} cannot be created under this instance: the graph does not list it among the parent's children`,
  CMD_CANNOT_HAVE_ANY_PARENT: d => `component${at(d)} is a root component: remove 'under /...'`,
  CMD_NOT_A_SCOPED_INSTANCE: d => `instance${at(d)} is not a machine (its component's installer is not 'target'): associate a root instance`,
  CMD_NOT_A_ROOT_INSTANCE: d => `only root instances (machines) can be replicated${at(d)}: give a path with a single '/'`,
  CMD_UNRECOGNIZED_INSTRUCTION: d => `unknown instruction${at(d)}: instructions are create, replicate, rename, associate, change status of, deploy and start all, stop all, undeploy all, delete, define, email, write, append, execute`,
  CMD_INVALID_INSTANCE_STATUS: d => `unknown status${at(d)}: write NOT_DEPLOYED, DEPLOYED_STOPPED or DEPLOYED_STARTED`,
  CMD_INSTABLE_INSTANCE_STATUS: d => `status${at(d)} is transient: ask for NOT_DEPLOYED, DEPLOYED_STOPPED or DEPLOYED_STARTED`,
  CMD_EMPTY_VARIABLE_NAME: () => 'the variable has no name: write \'define NAME = value\'',
  CMD_MISSING_INSTANCE_NAME: () => 'no instance name after \'as\': write \'... as <name>\'',
  CMD_INVALID_INSTANCE_NAME: d => `invalid instance name${at(d)}: use letters, digits, '_', '-', '.' or spaces, starting with a letter or '_'`,
  CMD_MISSING_COMPONENT_NAME: () => 'no component named: write \'create <Component> as <name>\'',
  CMD_INEXISTING_COMPONENT: d => `no component named${at(d)} in the graph: fix the name (names are case-sensitive)`,
  CMD_MISSING_PARENT_INSTANCE: d => `component${at(d)} is not a root component: add 'under /<parent path>'`,
  CMD_CONFLICTING_INSTANCE_NAME: d => `an instance${at(d)} already exists there: choose another name (or $(SMART_INDEX))`,
  CMD_EMAIL_NO_MESSAGE: () => 'the e-mail has no message: write \'email to@host with <message>\'',
  CMD_NO_INSTRUCTION: () => 'the file holds no instruction',
  CMD_UNRESOLVED_VARIABLE: d => `variable${at(d)} is not defined at this point: add 'define ... = ...' above this line`,
  CMD_INVALID_SYNTAX: d => `malformed instruction${at(d)}: see the commands reference for its form`,
  CMD_MISSING_TARGET_FILE: () => 'no file after \'into\': write \'write <text> into <file>\'',
  CMD_MISSING_COMMAND_NAME: () => 'no commands file named: write \'execute <name>\'',
  CMD_INEXISTING_COMMAND: d => `there is no commands/${d}.commands file: fix the name or add the file`,
  CMD_INEXISTING_COMMAND_FILE: d => `the commands file${at(d)} does not exist`,
  CMD_LOOPING_COMMAND: d => `the file executes itself${at(d)}: remove the instruction`,
  CMD_NASTY_LOOPING_COMMAND: d => `commands/${d}.commands executes itself: remove its 'execute ${d}'`,
  CMD_INVALID_DATE_PATTERN: d => `invalid date pattern${at(d)}: use SimpleDateFormat letters (yyyy-MM-dd HH:mm:ss), text in single quotes`,
  CMD_NO_MIX_FOR_PATTERNS: d => `$(FORMATTED_TIME ...) must be alone after '='${at(d)}: define it in its own variable`,
  CMD_INVALID_INDEX_PATTERN: d => `invalid index query${at(d)}: write $(EXISTING_INDEX MIN) or $(EXISTING_INDEX MAX > 2)`,
  MC_EMAIL_NO_SMTP: () => 'e-mail needs an SMTP server and none is configured: set smtp.host (and smtp.port, smtp.from) in the DM\'s configuration (meshconf validate: --smtp host:port), or remove the instruction',
  MC_FILE_OUTSIDE_DATA_FOLDER: d => `file${at(d)} would be outside the DM's data folder: write and append only reach files under it, remove '..'`,
  MC_NESTING_TOO_DEEP: d => `instances are nested more than ${d} levels deep: flatten the model`,
  MC_TOO_MANY_INSTANCES: d => `the model would create more than ${d} instances once 'count' is expanded: lower the counts`,
  MC_TOO_MANY_ERRORS: d => `more errors in this file were left out (${d}): fix the first ones and validate again`
}

function at (detail: string): string {
  return detail === '' ? '' : ` '${detail}'`
}

export function levelOf (code: string): ErrorLevel {
  return WARNINGS.has(code) ? 'WARNING' : 'SEVERE'
}

export function modelError (code: string, file: string | undefined, line: number | undefined, detail = ''): ModelError {
  const describe = MESSAGES[code]
  const message = describe !== undefined ? describe(detail) : `${code}${at(detail)}`
  const error: ModelError = { code, level: levelOf(code), message }
  if (file !== undefined) error.file = file
  if (line !== undefined && line > 0) error.line = line
  return error
}

/** Keeps the first MAX_ERRORS_PER_FILE errors of a file and says how many were left out. */
export function capErrors (errors: ModelError[], file: string): ModelError[] {
  if (errors.length <= MAX_ERRORS_PER_FILE) return errors
  const kept = errors.slice(0, MAX_ERRORS_PER_FILE)
  kept.push(modelError('MC_TOO_MANY_ERRORS', file, undefined, `${errors.length - MAX_ERRORS_PER_FILE} more`))
  return kept
}

export function hasSevere (errors: readonly ModelError[]): boolean {
  return errors.some(e => e.level === 'SEVERE')
}

/** `graph/main.graph:12: SEVERE P_PROPERTY_ENDS_WITH_SEMI_COLON: ...` */
export function formatModelError (error: ModelError): string {
  const where = error.file === undefined ? '' : `${error.file}${error.line === undefined ? '' : `:${error.line}`}: `
  return `${where}${error.level} ${error.code}: ${error.message}`
}
