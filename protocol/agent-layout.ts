// The layout of an agent's state folder, which the DM reads too (the local and netns targets inspect their
// machines' agents, `meshconf simulate` and the chaos runs read their states).
import { createHash } from 'node:crypto'
import { cleanInstancePath } from './model/exports.js'

/** File of the agent's state (model, states, imports, mesh parameters) in its state directory. */
export const STATE_FILE_NAME = 'agent-state.json'

/** Folder of the state directory holding the received recipe files, one JSON file per component. */
export const RECIPES_FOLDER = 'recipes'

/** Folder of the state directory holding one working folder per instance (recipe files, then what they create). */
export const INSTANCES_FOLDER = 'instances'

/** File of the state directory holding the running agent's process id (`meshconf agent view` signals it). */
export const AGENT_PID_FILE = 'agent.pid'

/** File of the state directory where the agent writes its mesh view on SIGUSR2 (agent/view.ts). */
export const AGENT_VIEW_FILE = 'view.json'

/** Version of the state file's layout; a file with another version is treated as unreadable. */
export const STATE_FORMAT_VERSION = 1

/** Longest clean path kept whole in a working folder's name, in characters (a file name has at most 255 bytes). */
const MAX_FOLDER_NAME_CLEAN_CHARS = 100

/**
 * The name of an instance's working folder, one per instance path: Roboconf's clean path (`VM_Tomcat`) when the path
 * is made of letters and digits only (the clean path then says which instance it is); else the clean path, cut to
 * MAX_FOLDER_NAME_CLEAN_CHARS, and `-` and 12 hex digits of the path's SHA-256. The clean path alone made
 * `/VM/my app`, `/VM/my-app` and `/VM/my_app` share one folder: deploying one deleted another's files.
 */
export function instanceFolderName (instancePath: string): string {
  const clean = cleanInstancePath(instancePath)
  if (/^(\/[A-Za-z0-9]+)+$/.test(instancePath) && clean.length <= MAX_FOLDER_NAME_CLEAN_CHARS) return clean
  return `${clean.slice(0, MAX_FOLDER_NAME_CLEAN_CHARS)}-${createHash('sha256').update(instancePath).digest('hex').slice(0, 12)}`
}
