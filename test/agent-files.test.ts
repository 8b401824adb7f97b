// Files and folders: one working folder per instance path (no two instances share one), secrets 0600 in folders 0700
// (the agent's state, its peer key, the params the DM writes for local and netns machines), an existing folder open
// to others closed, one of another user or a symbolic link refused.
import test from 'ava'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { STATE_FILE_NAME } from '../agent/constants.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { PEER_KEY_FILE } from '../agent/mesh/constants.js'
import { ensurePrivateFolder, PrivateFolderError } from '../common/private-files.js'
import { instanceFolderName } from '../agent/state.js'
import { machineFiles, writeAgentParams } from '../manager/targets/process.js'
import { base64Files, component, instance, startTestAgent, temporaryDir } from './lifecycle-fixtures.js'

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

test('instance folder names: plain for letters and digits, else the clean path and a hash; never shared', t => {
  t.is(instanceFolderName('/VM/MySQL'), 'VM_MySQL')
  t.is(instanceFolderName('/VM/Tomcat/War'), 'VM_Tomcat_War')
  const colliding = ['/VM/my app', '/VM/my-app', '/VM/my_app', '/VM/my/app', '/VM_my/app']
  const names = colliding.map(instanceFolderName)
  t.is(new Set(names).size, colliding.length, names.join(', '))
  t.is(instanceFolderName('/VM/my/app'), 'VM_my_app', 'letters and digits only: the plain clean path')
  for (const name of names.filter(n => n !== 'VM_my_app')) t.regex(name, /^VM_my_app-[0-9a-f]{12}$/)
  t.true(instanceFolderName(`/VM/${'x'.repeat(4000)}`).length < 120, 'a long path still fits in a file name')
})

test('/VM/my app, /VM/my-app and /VM/my_app each get their own folder: undeploying one leaves the others\' files', async t => {
  const names = ['my app', 'my-app', 'my_app']
  const a = await startTestAgent(t, {
    components: {
      VM: component('VM', { installer: 'target', children: ['App'] }),
      App: component('App', { installer: 'script' })
    },
    root: instance('/VM', 'VM', names.map(name => instance(`/VM/${name}`, 'App'))),
    recipes: () => ({ App: base64Files({ 'scripts/deploy.sh': '#!/bin/bash\necho "$ROBOCONF_INSTANCE_NAME" > ../mine.txt\n' }) })
  })
  for (const name of names) await a.request(`/VM/${name}`, 'DEPLOYED_STOPPED')
  const folders = await readdir(join(a.stateDir, 'instances'))
  t.is(folders.length, 3)
  await a.request('/VM/my-app', 'NOT_DEPLOYED')
  t.false(existsSync(join(a.stateDir, 'instances', instanceFolderName('/VM/my-app'))))
  for (const name of ['my app', 'my_app']) {
    t.true(existsSync(join(a.stateDir, 'instances', instanceFolderName(`/VM/${name}`), 'mine.txt')), `${name} keeps its files`)
  }
})

test('the agent\'s state file and peer key are 0600 in a 0700 folder', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.is(await modeOf(join(a.stateDir, STATE_FILE_NAME)), 0o600)
  t.is(await modeOf(join(a.stateDir, 'recipes')), 0o700)
  const keyDir = join(await temporaryDir(t, 'key'), 'state')
  await loadOrCreatePeerIdentity(keyDir)
  t.is(await modeOf(join(keyDir, PEER_KEY_FILE)), 0o600)
  t.is(await modeOf(keyDir), 0o700)
})

test('an existing folder open to others is closed; a symbolic link, or a folder of another user, is refused', async t => {
  const root = await temporaryDir(t, 'private')
  const open = join(root, 'open')
  await mkdir(open)
  await chmod(open, 0o755)
  t.deepEqual(await ensurePrivateFolder(open), { tightened: true, previousMode: 0o755 })
  t.is(await modeOf(open), 0o700)
  t.deepEqual(await ensurePrivateFolder(open), { tightened: false })
  const link = join(root, 'link')
  await symlink(open, link)
  await t.throwsAsync(ensurePrivateFolder(link), { instanceOf: PrivateFolderError, message: /symbolic link/ })
  if (process.getuid?.() === 0) {
    const foreign = join(root, 'foreign')
    await mkdir(foreign)
    const { chown } = await import('node:fs/promises')
    await chown(foreign, 65534, 65534)
    await t.throwsAsync(ensurePrivateFolder(foreign), { instanceOf: PrivateFolderError, message: /belongs to user 65534/ })
  }
})

test('the params the DM writes for a local or netns machine (its token) are 0600, its folder 0700, also over an older file', async t => {
  const folder = join(await temporaryDir(t, 'machine'), 'machines', 'local', 'VM')
  const files = machineFiles(folder)
  await writeAgentParams(files, { token: 'secret' })
  t.is(await modeOf(files.params), 0o600)
  t.is(await modeOf(folder), 0o700)
  t.deepEqual(JSON.parse(await readFile(files.params, 'utf8')), { token: 'secret' })
  // a machine made again under the same name: the file left behind, opened to others, is rewritten 0600
  await chmod(files.params, 0o644)
  await writeAgentParams(files, { token: 'newer' })
  t.is(await modeOf(files.params), 0o600)
  t.deepEqual(JSON.parse(await readFile(files.params, 'utf8')), { token: 'newer' })
})
