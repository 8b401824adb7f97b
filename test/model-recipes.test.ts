// Recipe checks as Roboconf's code does them when it loads an application (RuntimeModelValidator.validate(graphs,
// dir) for every component with a recipe folder): TargetValidator.parseTargetProperties for `installer: target`,
// RecipesValidator for `script` and `puppet` (the component's own installer, any case). Codes and levels are
// Roboconf's (reference Appendix B, RECIPES).
import test from 'ava'
import { loadApplicationTemplateFromFiles, type ModelError } from '../protocol/model/index.js'

const DESCRIPTOR = 'name = Recipes\nversion = 1.0\ngraph-entry-point = main.graph\n'

/** Loads a template of `graph` plus `files` (path -> text) and `directories` (empty folders); returns its REC_* errors. */
function recipeErrors (graph: string, files: Record<string, string>, directories: string[] = []): string[] {
  const bytes: Record<string, Uint8Array> = {
    'descriptor/application.properties': Buffer.from(DESCRIPTOR),
    'graph/main.graph': Buffer.from(graph)
  }
  for (const [path, text] of Object.entries(files)) bytes[path] = Buffer.from(text)
  const { errors } = loadApplicationTemplateFromFiles(bytes, new Set(['descriptor', 'graph', ...directories]))
  return describe(errors.filter(e => e.code.startsWith('REC_')))
}

function describe (errors: ModelError[]): string[] {
  return errors.map(e => `${e.code} ${e.level}${e.file !== undefined ? ` ${e.file}` : ''}`).sort()
}

const TARGET_GRAPH = 'VM {\n  installer: target;\n}\n'

test('a target folder holding no .properties file anywhere is no error (nothing to parse)', t => {
  t.deepEqual(recipeErrors(TARGET_GRAPH, { 'graph/VM/notes.txt': 'machines come from elsewhere\n' }), [])
  t.deepEqual(recipeErrors(TARGET_GRAPH, {}, ['graph/VM']), [])
  // hidden files and folders are not looked at
  t.deepEqual(recipeErrors(TARGET_GRAPH, { 'graph/VM/.old/ec2.properties': 'id = x\n' }), [])
})

test('a target folder with .properties only in a sub-folder: REC_TARGET_NO_PROPERTIES (SEVERE)', t => {
  t.deepEqual(recipeErrors(TARGET_GRAPH, { 'graph/VM/more/ec2.properties': 'id = ec2\nhandler = ec2\nname = EC2\n' }),
    ['REC_TARGET_NO_PROPERTIES SEVERE graph/VM'])
})

test('target properties are found whatever the case of their extension', t => {
  t.deepEqual(recipeErrors(TARGET_GRAPH, { 'graph/VM/EC2.PROPERTIES': 'id = ec2\nhandler = ec2\n' }),
    ['REC_TARGET_NO_NAME WARNING graph/VM/EC2.PROPERTIES'])
})

const SCRIPT_GRAPH = `VM {
  installer: target;
  children: App, Old, Child;
}

App {
  installer: script;
}

Old {
  installer: bash;
}

Child {
  extends: App;
}
`

test('a script recipe folder with files but no scripts/: REC_SCRIPT_NO_SCRIPTS_DIR (SEVERE); empty, or with scripts/, is fine', t => {
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/App/files/app.war': 'war' }), ['REC_SCRIPT_NO_SCRIPTS_DIR SEVERE graph/App'])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/App/roboconf-templates/default.template': 'echo hi' }), ['REC_SCRIPT_NO_SCRIPTS_DIR SEVERE graph/App'])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/App/scripts/deploy.sh': 'true', 'graph/App/files/app.war': 'war' }), [])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, {}, ['graph/App']), [])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/App/.gitignore': '*.log' }), [])
})

test('only the component\'s own installer "script" (any case) is checked: not bash, not one inherited', t => {
  t.deepEqual(recipeErrors(SCRIPT_GRAPH.replace('installer: script', 'installer: Script'), { 'graph/App/files/a': 'a' }),
    ['REC_SCRIPT_NO_SCRIPTS_DIR SEVERE graph/App'])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/Old/files/a': 'a' }), [])
  t.deepEqual(recipeErrors(SCRIPT_GRAPH, { 'graph/App/scripts/deploy.sh': 'true', 'graph/Child/files/a': 'a' }), [])
})

const PUPPET_GRAPH = `VM {
  installer: target;
  children: MySQL, App;
}

MySQL {
  installer: script;
  exports: ip, port = 3306;
}

App {
  installer: puppet;
  imports: MySQL.ip, MySQL.port;
}
`

const GOOD_INIT = 'class roboconf_app(\n  $runningState = undef,\n  $importDiff = undef,\n  $mysql = undef\n) {\n}\n'

test('puppet: exactly one module named roboconf_* (SEVERE otherwise), even in an empty recipe folder', t => {
  t.deepEqual(recipeErrors(PUPPET_GRAPH, {}, ['graph/App']), ['REC_PUPPET_HAS_NO_RBCF_MODULE SEVERE graph/App'])
  t.deepEqual(recipeErrors(PUPPET_GRAPH, { 'graph/App/apache/manifests/init.pp': GOOD_INIT }), ['REC_PUPPET_HAS_NO_RBCF_MODULE SEVERE graph/App'])
  t.deepEqual(recipeErrors(PUPPET_GRAPH, { 'graph/App/roboconf_app/manifests/init.pp': GOOD_INIT, 'graph/App/Roboconf_other/README': '' }),
    ['REC_PUPPET_HAS_TOO_MANY_RBCF_MODULES SEVERE graph/App'])
  t.deepEqual(recipeErrors(PUPPET_GRAPH, { 'graph/App/roboconf_app/manifests/init.pp': GOOD_INIT }), [])
})

test('puppet: runningState in every class, importDiff in update.pp (else init.pp), a parameter per imported prefix', t => {
  const bare = 'class roboconf_app::start($port = 80) {\n}\n'
  t.deepEqual(recipeErrors(PUPPET_GRAPH, { 'graph/App/roboconf_app/manifests/init.pp': bare }), [
    'REC_PUPPET_MISSING_PARAM_FROM_IMPORT WARNING graph/App/roboconf_app/manifests/init.pp',
    'REC_PUPPET_MISSING_PARAM_IMPORT_DIFF SEVERE graph/App/roboconf_app/manifests/init.pp',
    'REC_PUPPET_MISSING_PARAM_RUNNING_STATE SEVERE graph/App/roboconf_app/manifests/init.pp'
  ])
  // with an update.pp, init.pp needs no importDiff; every .pp of manifests/ is checked
  t.deepEqual(recipeErrors(PUPPET_GRAPH, {
    'graph/App/roboconf_app/manifests/init.pp': 'class roboconf_app($runningState = undef, $MySQL = undef) {\n}\n',
    'graph/App/roboconf_app/manifests/update.pp': 'class roboconf_app::update($runningState, $mysql) {\n}\n',
    'graph/App/roboconf_app/manifests/stop.PP': 'class roboconf_app::stop($runningState, $mysql, $importDiff) {\n}\n'
  }), [
    // parameters are compared with the prefix in lower case: $MySQL is not $mysql
    'REC_PUPPET_MISSING_PARAM_FROM_IMPORT WARNING graph/App/roboconf_app/manifests/init.pp',
    'REC_PUPPET_MISSING_PARAM_IMPORT_DIFF SEVERE graph/App/roboconf_app/manifests/update.pp'
  ])
  // a class without parameters, or a file that is not .pp, is not checked
  t.deepEqual(recipeErrors(PUPPET_GRAPH, {
    'graph/App/roboconf_app/manifests/init.pp': 'class roboconf_app {\n}\n',
    'graph/App/roboconf_app/manifests/notes.txt': 'class x($y) {}'
  }), [])
})

test('puppet: wildcard imports are one WARNING', t => {
  const graph = PUPPET_GRAPH.replace('imports: MySQL.ip, MySQL.port;', 'imports: MySQL.*;\n  imports: VM.* (optional);')
  t.deepEqual(recipeErrors(graph, { 'graph/App/roboconf_app/manifests/init.pp': GOOD_INIT.replace('$mysql', '$mysql, $vm') }),
    ['REC_PUPPET_DISLIKES_WILDCARD_IMPORTS WARNING graph/App'])
})
