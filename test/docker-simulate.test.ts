// `meshconf simulate lamp --target docker` run as a user runs it (the build): MySQL, Tomcat and Apache each in a
// container from the agent image, recipes inside, the mesh across container addresses; a second Tomcat VM is a new
// container; `docker kill` of it is a crashed VM (Apache drops it, the DM sees it silent); nothing is left behind.
import test from 'ava'
import { join } from 'node:path'
import Docker from 'dockerode'
import { execa } from 'execa'
import { LAMP_DIR } from './lamp-helpers.js'
import { ensureAgentImage, networkExists } from './helpers/docker.js'

const ROOT = join(LAMP_DIR, '..', '..')

const STEPS = [
  'build the agent image (reused when its inputs did not change)',
  'start the DM',
  'load the LAMP template and create the application',
  'deploy and start all',
  'requests through Apache, answered by Tomcat with data from MySQL',
  'add Tomcat VM 2: both Tomcats answer in turn',
  'docker kill Tomcat VM 2\'s container (a crashed VM): Apache drops it within the crash detection',
  'the DM sees Tomcat VM 2 silent (PROBLEM); undeployed, its dead container is removed',
  'clean up'
]

interface Report { ok: boolean, steps: Array<{ name: string, ok: boolean, durationMs: number, detail?: string }> }

test('simulate lamp --target docker: every step ok in containers, exit 0, no container nor network left', async t => {
  t.timeout(11 * 60_000)
  await ensureAgentImage()
  const run = await execa(process.execPath, [join(ROOT, 'bin', 'meshconf.js'), 'simulate', 'lamp', '--target', 'docker', '--json', '--wait=4m'], {
    cwd: ROOT, reject: false, timeout: 10 * 60_000, stdin: 'ignore'
  })
  const report = JSON.parse(run.stdout) as Report
  const table = report.steps.map(s => `${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.durationMs} ms) ${s.detail ?? ''}`).join('\n')
  t.deepEqual(report.steps.map(s => s.name), STEPS)
  t.true(report.ok && report.steps.every(s => s.ok), table)
  t.is(run.exitCode, 0, run.stderr)
  // the machines were containers on the simulation's network, with addresses of its subnet
  const network = /network (meshconf-sim-\w+) (10\.\d+\.\d+)\.0\/24/.exec(report.steps[0].detail ?? '')
  t.truthy(network, report.steps[0].detail)
  const killStep = report.steps.find(s => s.name.startsWith('the DM sees Tomcat VM 2'))
  t.regex(killStep?.detail ?? '', new RegExp(`/Apache VM ${network?.[2].replaceAll('.', '\\.')}\\.\\d+ running`))
  t.false(await networkExists(network?.[1] ?? ''), 'the network went with the last container')
  const left = await new Docker().listContainers({ all: true, filters: { network: [network?.[1] ?? ''] } })
  t.deepEqual(left, [])
})
