// Undeploying a machine: its agent first stops and undeploys what it carries (the recipes run, children first), and
// only then is the machine terminated; an agent that does not answer holds the undeploy only for a bounded time.
import test from 'ava'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startInProcessDm, statuses, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

const MACHINE = '/Tomcat VM 2'
const TOMCAT = `${MACHINE}/tomcat`
const WAR = `${TOMCAT}/shop`
/** Bound of the wait for an agent's undeploys in these tests, in milliseconds. */
const UNDEPLOY_WAIT_MS = 5_000

/** Every recipe appends "<instance path> <step>" to the journal the Tomcat exports (its War sees it as an ancestor's). */
function journalScript (step: string): string {
  return `#!/bin/bash\necho "$ROBOCONF_INSTANCE_PATH ${step}" >> "\${journal:-$ANCESTOR_Tomcat_journal}"\n`
}

function writeTomcatTemplate (root: string, journal: string): string {
  const recipes: Record<string, string> = {}
  for (const component of ['Tomcat', 'War']) {
    for (const step of ['deploy', 'start', 'stop', 'undeploy']) recipes[`graph/${component}/scripts/${step}.sh`] = journalScript(step)
  }
  return writeTemplate(root, {
    'descriptor/application.properties': [
      'name = Webapps', 'version = 1.0', 'graph-entry-point = main.graph', 'instance-entry-point = initial.instances', ''
    ].join('\n'),
    'graph/main.graph': [
      'VM {', '  installer: target;', '  children: Tomcat;', '}',
      'Tomcat {', '  installer: script;', `  exports: ip, port = 8080, journal = "${journal}";`, '  children: War;', '}',
      'War {', '  installer: script;', '}', ''
    ].join('\n'),
    'instances/initial.instances': [
      'instance of VM {', `  name: ${MACHINE.slice(1)};`, '  instance of Tomcat {', '    name: tomcat;',
      '    instance of War {', '      name: shop;', '    }', '  }', '}', ''
    ].join('\n'),
    ...recipes
  })
}

async function deployed (t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const warnings: string[] = []
  const log = { debug: () => {}, info: () => {}, warn: (m: string) => { warnings.push(m) }, error: (m: string) => { process.stderr.write(`ERROR ${m}\n`) } }
  const { dir, dm, target } = await startInProcessDm(t, 'dm-undeploy', { log, machineUndeployWaitMs: UNDEPLOY_WAIT_MS })
  const journal = join(dir.path, 'journal.txt')
  await dm.loadTemplateFromPath(writeTomcatTemplate(join(dir.path, 'template'), journal))
  dm.createApplication({ name: 'webapps', template: { name: 'Webapps', version: '1.0' } })
  dm.action('webapps', { action: 'deploy-and-start-all' })
  await waitFor('every instance started', () => Object.values(statuses(dm.instances('webapps'))).every(s => s === 'DEPLOYED_STARTED'))
  const machineId = dm.instance('webapps', MACHINE).data['machine.id']
  const readJournal = (): string[] => existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n') : []
  return { dm, target, warnings, machineId, readJournal }
}

test('undeploying a machine runs the stop and undeploy recipes of what it carries, children first, before terminating it', async t => {
  const { dm, target, warnings, machineId, readJournal } = await deployed(t)
  t.deepEqual(readJournal(), [`${TOMCAT} deploy`, `${TOMCAT} start`, `${WAR} deploy`, `${WAR} start`])
  let journalWhenMachineGone: string[] | undefined
  dm.onEvent(e => {
    if (e.type === 'instance' && e.path === MACHINE && e.status === 'NOT_DEPLOYED') journalWhenMachineGone = readJournal()
  })

  dm.changeState('webapps', MACHINE, 'NOT_DEPLOYED')
  await waitFor('the machine undeployed', () => dm.instance('webapps', MACHINE).status === 'NOT_DEPLOYED')

  t.deepEqual(journalWhenMachineGone?.slice(4), [`${WAR} stop`, `${WAR} undeploy`, `${TOMCAT} stop`, `${TOMCAT} undeploy`])
  t.deepEqual(statuses(dm.instances('webapps')), { [MACHINE]: 'NOT_DEPLOYED', [TOMCAT]: 'NOT_DEPLOYED', [WAR]: 'NOT_DEPLOYED' })
  t.false(await target.isRunning(machineId))
  t.deepEqual(warnings.filter(w => w.includes('terminating the machine anyway')), [])
})

test('undeploy-all terminates a machine whose agent does not answer once the wait is over', async t => {
  const { dm, target, warnings, machineId, readJournal } = await deployed(t)
  // the agent is cut off from the DM (as by a partition): it hears no request, and the DM still takes it for ready
  await target.agent(machineId)?.link.stop()

  const asked = Date.now()
  dm.action('webapps', { action: 'undeploy-all' })
  await waitFor('the machine undeployed', () => dm.instance('webapps', MACHINE).status === 'NOT_DEPLOYED', { timeoutMs: 10_000 })
  const elapsed = Date.now() - asked

  t.true(elapsed >= UNDEPLOY_WAIT_MS, `terminated after ${elapsed} ms, before the ${UNDEPLOY_WAIT_MS} ms wait was over`)
  t.true(elapsed < UNDEPLOY_WAIT_MS + 5_000, `terminated after ${elapsed} ms`)
  t.false(await target.isRunning(machineId))
  t.deepEqual(statuses(dm.instances('webapps')), { [MACHINE]: 'NOT_DEPLOYED', [TOMCAT]: 'NOT_DEPLOYED', [WAR]: 'NOT_DEPLOYED' })
  t.false(readJournal().some(line => line.endsWith(' stop') || line.endsWith(' undeploy')))
  const warning = warnings.find(w => w.includes('terminating the machine anyway'))
  t.truthy(warning)
  t.true(warning?.includes(`${MACHINE} (webapps) did not undeploy them within ${UNDEPLOY_WAIT_MS} ms`), warning)
})
