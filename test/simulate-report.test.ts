// What a simulation step that waits for every instance to start says when it times out: each instance not started,
// with the failed step its agent reported (a start that failed leaves the instance DEPLOYED_STOPPED for good).
import test from 'ava'
import { allStarted } from '../manager/commands/simulation-steps.js'
import type { InstanceNode } from '../manager/client.js'

const node = (path: string, status: InstanceNode['status'], children: InstanceNode[] = [], extra: Partial<InstanceNode> = {}): InstanceNode =>
  ({ name: path.split('/').pop() as string, path, component: 'C', status, data: {}, children, ...extra }) as InstanceNode

test('every instance started: nothing to say', t => {
  t.is(allStarted([node('/VM', 'DEPLOYED_STARTED', [node('/VM/MySQL', 'DEPLOYED_STARTED')])]), undefined)
})

test('an instance whose start failed: its status, the failed step and the last line of its output', t => {
  const mysql = node('/MySQL VM/MySQL', 'DEPLOYED_STOPPED', [], {
    data: { 'last.problem': 'start.sh exited with code 1' },
    problem: { step: 'start', plugin: 'script', exitCode: 1, at: '2026-12-07T00:00:00.000Z', message: 'start.sh exited with code 1', stderr: 'first line\nError: listen EADDRINUSE: address already in use 127.0.0.1:41234\n' }
  })
  t.is(allStarted([node('/MySQL VM', 'DEPLOYED_STARTED', [mysql]), node('/Tomcat VM 1', 'DEPLOYING')]),
    'not started yet: /MySQL VM/MySQL DEPLOYED_STOPPED (start failed: start.sh exited with code 1; Error: listen EADDRINUSE: address already in use 127.0.0.1:41234), /Tomcat VM 1 DEPLOYING')
})

test('a problem the instance recovered from since is not shown', t => {
  const tomcat = node('/Tomcat VM 1/Tomcat', 'DEPLOYING', [], {
    problem: { step: 'start', at: '2026-12-07T00:00:00.000Z', message: 'start.sh exited with code 1', stderr: 'old\n' }
  })
  t.is(allStarted([node('/Tomcat VM 1', 'DEPLOYED_STARTED', [tomcat])]), 'not started yet: /Tomcat VM 1/Tomcat DEPLOYING')
})
