// Timings and sizes of the mesh. Failure-detection goals: a killed agent's exports withdrawn at every importer in
// < 1 s (issue 4), a cut-off one's in <= 2 s p50 and <= 2.5 s at most (issue 20), and a short blip does not flap.

/**
 * How long a lost owner may stay disconnected before its exports are withdrawn, in ms (absorbs blips and redials).
 * An owner whose redial is refused (nothing listens: its process is gone) is withdrawn at once.
 */
export const LIVENESS_GRACE_MS = 400

/**
 * Most addresses one message makes an exchange dial (the DM's peers or binding change, a domain peer's addresses), in
 * addresses.
 */
export const MAX_ADDED_PEERS = 64

/**
 * How long an owner heard through the mesh (relayed by other peers) may stay undialled before its exports are
 * dropped, in ms (its liveness can only be watched on a direct connection): several dials' time, for when 50 or
 * 100 importers dial one owner at once and its handshakes queue (with 6 s, a chain of 50 agents on 2 cores kept
 * dropping live Tomcats). An owner lost after we connected to it is dropped after LIVENESS_GRACE_MS.
 */
export const UNCONNECTED_OWNER_GRACE_MS = 20_000

/**
 * How long an import restored from the saved state (agent restart) is kept without its owner re-announcing it, in
 * ms: joining the mesh, asking, and a dial's grace. An owner that went while the agent was down never re-announces.
 */
export const RESTORED_IMPORTS_GRACE_MS = 8000

/**
 * Interval between two liveness pings of each owner we import from, in ms: finds cut-off owners (no reset).
 * libp2p's own connection monitor is off: it opens a second ping stream when a ping outlasts its interval, which
 * libp2p refuses (one outbound ping stream), and it then aborts the connection of a merely busy peer. A ping is the
 * connection's yamux session ping, one frame each way (a ping-protocol stream costs far more CPU): an owner with 98
 * importers still answers 98 pings per interval. Longer intervals bring the cut-off detection, once timeouts stretch
 * by the agent's own lag, too near its goal (figures: docs/tuning.md).
 */
export const LIVENESS_PING_INTERVAL_MS = 1000
/**
 * Pings an owner asks for at most per second from all its importers together: past LIVENESS_OWNER_PINGS_PER_SECOND
 * importers it advertises a longer interval (probe.ts ownerPingIntervalMs: doubled as the count doubles; 1 000
 * importers: 16 s), on its direct streams. With a 1 s interval for everyone, a Tomcat of a 1 000-agent chain answered
 * 1 000 pings a second; a starved one answered late and its importers dropped it. A cut is still noticed by the first
 * importer to ping it (one every 10 ms or so), whose ping-reqs make the helpers ping it at once (the suspicion spreads);
 * a crash is seen through the connection's reset, not pings.
 */
export const LIVENESS_OWNER_PINGS_PER_SECOND = 100
/** Longest ping interval an importer accepts from an owner, in ms (what an owner may ask for is clamped to it). */
export const LIVENESS_MAX_PING_INTERVAL_MS = 16_000
/** The direct-stream topic on which an owner advertises its ping interval (agents that do not know it ignore it). */
export const LIVENESS_TOPIC = '/meshconf/liveness/1'
/**
 * A ping unanswered for this long, in ms (stretched by our own lag), makes us ask PROBE_HELPERS other peers to ping the
 * owner (SWIM's ping-req; agent/mesh/probe.ts). Worst case for a cut-off owner on a healthy host: interval + this +
 * the helpers' answers = 1000 + 500 + about 550 ms (PROBE_INDIRECT_TIMEOUT_MS at most); figures in
 * docs/failure-detection.md.
 */
export const LIVENESS_PING_TIMEOUT_MS = 500
/**
 * Longest wait for the helpers' answers to a ping-req, in ms (stretched by our own lag); our own ping still counts
 * meanwhile. Twice PROBE_HELPER_PING_TIMEOUT_MS: a helper lagging more than we do still answers in time (with 800 ms,
 * a sixth of the verdicts right after a start came without the helpers' nacks). An owner no helper reached (a "nack") is lost at once, without LIVENESS_GRACE_MS; one about which no
 * helper knew anything is lost with the grace.
 */
export const PROBE_INDIRECT_TIMEOUT_MS = 1000
/** How long a helper waits for the owner's answer to its ping before it answers "nack", in ms (stretched by its lag). */
export const PROBE_HELPER_PING_TIMEOUT_MS = 500
/**
 * Peers asked to ping a late owner (memberlist's IndirectChecks: 3), preferring those importing what we import (they
 * are connected to the same owners).
 */
export const PROBE_HELPERS = 3
/**
 * An importer asked by another one to ping an owner judges its own pending ping of that owner this long after it was
 * sent, in ms, instead of after LIVENESS_PING_TIMEOUT_MS (the first importer to notice a cut hastens the others; a live
 * owner has answered by then, and the verdict still needs the helpers' nacks).
 */
export const PROBE_HINTED_TIMEOUT_MS = 200
/** Ping-reqs a helper serves at once for one requester; more are refused and counted. */
export const MAX_PROBES_PER_REQUESTER = 2
/**
 * Ping-reqs a helper serves per second from all requesters (token bucket, the same burst); more are refused and
 * counted. An owner cut off from a 50-agent mesh costs each helper about 3 (49 importers x 3 helpers / 49).
 */
export const PROBE_REQUESTS_PER_SECOND = 20
/** Protocol of ping-reqs: one request (the target's peer id), one byte back (probe.ts). */
export const PROBE_PROTOCOL = '/meshconf/probe/1.0.0'
/**
 * An owner that has not answered a ping for this long, in ms, has the connection aborted and is redialled. Until
 * then a late owner is lost for the mesh (its exports go after the grace) but keeps its connection, so a busy owner
 * that answers late is back at once, and a healed link may carry the old connection again.
 */
export const LIVENESS_ABORT_MS = 10_000
/**
 * A ping (and a ping-req's wait) also gets, on top of its timeout, this many times the recent lag of our own timers: a starved
 * agent reads answers late (50 agents starting on 2 cores lagged by seconds and dropped live owners in a loop).
 */
export const LOCAL_HEALTH_LAG_FACTOR = 2
/** Interval of the probe timer that measures that lag, and the window over which its largest value counts, in ms. */
export const LOCAL_HEALTH_PROBE_MS = 250
export const LOCAL_HEALTH_WINDOW_MS = 10_000
/** Ping streams one peer may have open towards another at once. */
export const MAX_PING_STREAMS = 4

/**
 * Mean interval between a change of an owner's exports and its next digest (anti-entropy round), in ms; each is
 * jittered by ±20 %. Messages are missed around changes, so the interval then doubles after each digest, up to
 * ANTI_ENTROPY_MAX_INTERVAL_MS: an idle mesh sends almost nothing (a digest reaches every agent, and every agent
 * pays CPU to handle its copies: docs/tuning.md).
 */
export const ANTI_ENTROPY_INTERVAL_MS = 5000
/** Longest mean interval between two digests of an owner, in ms (memberlist's push-pull: 30 s; Consul: 60 s+). */
export const ANTI_ENTROPY_MAX_INTERVAL_MS = 120_000
/**
 * Digests per second the whole mesh may send, in 1/s: an owner that knows P peers (connected, or heard from lately)
 * waits at least (P + 1) / this seconds between two digests. Each digest costs every agent CPU, so without this
 * budget agents starting together spend most of their start on digests (docs/tuning.md).
 */
export const ANTI_ENTROPY_DIGESTS_PER_SECOND = 1

/** Window in which re-announce requests and newly ready peers are gathered into one message, in ms. */
export const REQUEST_COALESCE_MS = 20
/**
 * Shortest interval between two requests of one importer, and between two re-announces of one owner, in ms. Each
 * is a gossip message that every agent receives and verifies: when many agents start, one request per newly ready
 * peer and one re-announce per request flood the mesh, and the starved agents miss pings, drop connections and ask
 * again (docs/tuning.md). The first goes out after
 * REQUEST_COALESCE_MS; what comes within the interval is gathered into the next.
 */
export const REQUEST_MIN_INTERVAL_MS = 500

/**
 * A peer connected for this long, in ms, that never showed up subscribed to the control topic has no working gossip
 * stream (its opening failed under load; gossipsub does not retry): the connection is aborted and redialled.
 * With 10 s, a 100-agent chain on 2 cores redialled 310 such connections in 6 minutes, nearly all to the three
 * busy exporters, whose subscriptions were merely late: each redial cost them a handshake more, and the chain never
 * came up. With 30 s: none, and the chain came up and went quiet (1.7 % of a core per agent).
 */
export const GOSSIP_STREAM_GRACE_MS = 30_000
/** Interval between two checks for such connections, in ms. */
export const GOSSIP_CHECK_INTERVAL_MS = 5000

/** Gossipsub's heartbeat interval while the mesh is active, in ms (gossipsub's own default). */
export const GOSSIP_HEARTBEAT_INTERVAL_MS = 1000
/**
 * Heartbeats whose messages each heartbeat advertises in IHAVE gossip (gossipsub's `mcacheGossip`, default 3): one.
 * Every agent gossips each message (a digest, an announce) to GOSSIP_LAZY_PEERS peers per heartbeat for this many
 * heartbeats, so with 3 one digest of an owner cost the mesh about 9 IHAVE frames per agent, most of the traffic of a
 * chain's first quiet seconds (docs/tuning.md). The flood publish and the direct streams carry the changes; the IHAVE
 * of the first heartbeat still bridges a topic mesh that forms an island, and anti-entropy repairs what is left.
 */
export const GOSSIP_HISTORY_HEARTBEATS = 1
/** IHAVE gossip to this many peers per topic and heartbeat (gossipsub's `Dlazy`, default 6 or a quarter of the peers). */
export const GOSSIP_LAZY_PEERS = 3
/**
 * Heartbeats in a row with nothing happening (no message, publish, peer or subscription change, graft or prune)
 * before the heartbeat interval grows (quiet-heartbeat.ts): gossipsub gossips the messages of its last
 * GOSSIP_HISTORY_HEARTBEATS heartbeats (and keeps them for 5 heartbeats, however long those are, for IWANTs), so after
 * 2 quiet ones it has nothing left to gossip.
 */
export const GOSSIP_QUIET_HEARTBEATS = 2
/**
 * Longest heartbeat interval of a quiet mesh, in ms: the interval doubles after each quiet heartbeat up to this, and
 * anything that happens brings the next one back within GOSSIP_HEARTBEAT_INTERVAL_MS. It bounds how late a quiet mesh
 * regrafts a peer whose prune backoff ran out (pings, not heartbeats, find failed peers: docs/tuning.md).
 */
export const GOSSIP_QUIET_HEARTBEAT_MAX_INTERVAL_MS = 8000

/** First and largest delay between two dials of a wanted peer (bootstrap, remembered, owner), in ms. */
export const REDIAL_MIN_DELAY_MS = 250
export const REDIAL_MAX_DELAY_MS = 5000
/** Dials in flight at once (more on one host time out, libp2p-on-node20 G5). */
export const MAX_CONCURRENT_DIALS = 8
/** Timeout of one dial, in ms. */
export const DIAL_TIMEOUT_MS = 4000
/**
 * Connections an agent keeps open at most (libp2p's own default is 300). Every importer of an owner holds a
 * connection to it, so an owner with more importers than the cap would have its connections pruned and its exports
 * would flap at the importers. Loopback peers (the `allow` list) are never counted nor pruned; this is the cap for
 * real networks. Still bounded: a peer needs the pnet key to open one.
 */
export const MAX_CONNECTIONS = 4096

/** Default debounce window of import changes before the listener is called, in ms (0: every change, as Roboconf). */
export const DEFAULT_DEBOUNCE_MS = 0

/** Most peers remembered for the next start (`mesh-peers.json`). */
export const MAX_REMEMBERED_PEERS = 64
/** Delay before the remembered-peers file is rewritten after a change, in ms (batches connection bursts). */
export const REMEMBERED_PEERS_WRITE_DELAY_MS = 1000

/**
 * Ownership verdicts an agent caches, in entries (one per owner and signature: a legitimate mesh needs one per agent).
 * Bounded, least recently used first out, because a peer with the pnet key can send endless forged signatures.
 */
export const MAX_OWNERSHIP_VERDICTS = 1024
/**
 * Stamps of exports (owner, instance, prefix) an agent remembers to reject stale messages, in entries (about 300 bytes
 * each), least recently used first out: withdraws need no ownership, so a peer with the pnet key could send endless
 * random paths. The stamps of held exports are also kept with them, so only those of withdrawn ones can be forgotten.
 */
export const MAX_EXPORT_STAMPS = 4096

/**
 * Stamps of (owner, prefix) an agent keeps to compare with digests, in entries, least recently used first out: forged
 * withdraws of random prefixes would otherwise grow it without bound.
 */
export const MAX_OWNER_PREFIX_STAMPS = 4096
/** Scoped instances whose newest machine generation an agent remembers (superseded ownerships refused), LRU. */
export const MAX_SCOPE_GENERATIONS = 4096
/** Peers an agent counts as heard from lately (the mesh's size for the digest budget), in entries; LRU. */
export const MAX_HEARD_PEERS = 1024
/**
 * Exports an agent holds from one owner, in entries (instances of its scope times prefixes): an owner with a valid
 * ownership could otherwise make up endless instance paths inside its scope, each held and each an `update` run.
 */
export const MAX_HELD_EXPORTS_PER_OWNER = 128
/** Peers the libp2p transport keeps dialling (bootstrap, remembered, owners), and owners it pings, in entries; LRU. */
export const MAX_WANTED_PEERS = 1024
/** Addresses kept per peer (an owner's announce or digest lists its own), in entries. */
export const MAX_PEER_ADDRESSES = 16
/**
 * How long the node's own listen addresses, as every announce and digest lists them, are reused before libp2p is
 * asked again, in ms (any change of them libp2p tells also refreshes them at once). Asking libp2p builds and filters
 * its addresses anew: about 0.15 ms of an owner's path from a change to its first write (docs/tuning.md).
 */
export const OWN_ADDRESSES_TTL_MS = 5000
/** Peers whose identify addresses are kept until their ownership is verified (then they are remembered); LRU. */
export const MAX_UNVERIFIED_PEERS = 256

/** Most log lines per rejection reason per interval, and that interval in ms (10 000 bad messages log a few lines). */
export const REJECTION_LOG_INTERVAL_MS = 5000

/** Default listen address of the mesh node: loopback, any free port. */
export const DEFAULT_LISTEN_ADDRESS = '/ip4/127.0.0.1/tcp/0'

/** Name of the file holding the agent's Ed25519 libp2p key, in the agent's state folder. */
export const PEER_KEY_FILE = 'peer-key'
/** Name of the file keeping the ports the mesh listened on, reused after a restart (peers remember them). */
export const LISTEN_PORTS_FILE = 'mesh-listen.json'
/** Name of the file keeping the owner's epoch, bumped at every start (epoch.ts), in the agent's state folder. */
export const MESH_EPOCH_FILE = 'mesh-epoch'
/** Name of the file remembering the multiaddrs of the peers met in the last run. */
export const REMEMBERED_PEERS_FILE = 'mesh-peers.json'

/**
 * Protocol of the direct stream: an owner writes its announces and withdraws straight to each connected importer
 * (direct.ts), which spares both a publisher signature and gossipsub's handling on the path from a change to `update`.
 */
export const DIRECT_PROTOCOL = '/meshconf/direct/1.0.0'
/** Direct streams one peer may open towards another at once (one is used; a second covers a reopening). */
export const MAX_DIRECT_STREAMS = 2
/** Longest wait for a direct stream to open, in ms (stretched by the agent's own lag); the gossip copy follows anyway. */
export const DIRECT_OPEN_TIMEOUT_MS = 5000
/** Frames kept for a direct stream still opening, in entries. */
export const MAX_DIRECT_QUEUED_FRAMES = 64
/** Bytes a direct stream may buffer for a peer that does not read, before it is reset. */
export const MAX_DIRECT_WRITE_BUFFER_BYTES = 4 * 1024 * 1024
/**
 * Largest piece of a private-network connection's data encrypted at once, in bytes (xsalsa20-guard.ts): the cipher's
 * shared WebAssembly memory (64 MB at most) then grows by what one piece needs, not by a whole large read.
 */
export const XSALSA20_CHUNK_BYTES = 64 * 1024
