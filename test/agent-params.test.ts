// The agent params' mesh options (agent/params.ts): mDNS and the debounce window, their defaults, and clear errors
// for bad values.
import test from 'ava'
import { InvalidAgentParamsError, MAX_MESH_DEBOUNCE_MS, parseAgentParams } from '../protocol/agent-params.js'

const base = {
  application: 'Legacy LAMP',
  scopedInstancePath: '/Apache VM',
  stateDir: '/var/lib/meshconf/agent',
  messaging: { kind: 'embedded', url: 'ws://10.0.0.2:7401/agents', token: 'secret' },
  ipAddress: '10.0.0.5'
}

test('meshMdns and meshDebounceMs are taken as given, and left to the mesh\'s defaults when absent', t => {
  t.like(parseAgentParams({ ...base, meshMdns: true, meshDebounceMs: 250 }, 'agent.json'), { meshMdns: true, meshDebounceMs: 250 })
  t.like(parseAgentParams({ ...base, meshMdns: false, meshDebounceMs: 0 }, 'agent.json'), { meshMdns: false, meshDebounceMs: 0 })
  t.like(parseAgentParams({ ...base, meshDebounceMs: MAX_MESH_DEBOUNCE_MS }, 'agent.json'), { meshDebounceMs: MAX_MESH_DEBOUNCE_MS })
  // Absent: mDNS off, no debounce window (the mesh's defaults, agent/mesh/libp2p.ts and constants.ts).
  t.like(parseAgentParams(base, 'agent.json'), { meshMdns: undefined, meshDebounceMs: undefined })
})

test('bad meshMdns and meshDebounceMs values are refused, naming the file, the field and what is expected', t => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ meshMdns: 'yes' }, /agent params agent\.json, field "meshMdns": expected true or false, got "yes"/],
    [{ meshMdns: 1 }, /field "meshMdns": expected true or false, got 1/],
    [{ meshDebounceMs: -1 }, /field "meshDebounceMs": expected an integer from 0 to 60000, got -1/],
    [{ meshDebounceMs: 2.5 }, /field "meshDebounceMs": expected an integer from 0 to 60000, got 2\.5/],
    [{ meshDebounceMs: MAX_MESH_DEBOUNCE_MS + 1 }, /field "meshDebounceMs": expected an integer from 0 to 60000, got 60001/],
    [{ meshDebounceMs: '100' }, /field "meshDebounceMs": expected an integer from 0 to 60000, got "100"/]
  ]
  for (const [fields, message] of cases) {
    const error = t.throws(() => parseAgentParams({ ...base, ...fields }, 'agent.json'), { instanceOf: InvalidAgentParamsError }, JSON.stringify(fields))
    t.regex(error?.message ?? '', message)
  }
})
