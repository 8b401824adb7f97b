// `meshconf help [command | topic]`: a command's help, or a topic page. Topics are the README's sections (under
// "Using it"), reflowed for the terminal, so the README and the terminal pages never disagree.
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { commandHelp, type CommandRegistration } from '../cli.js'
import { terminalColumns } from './format.js'

/** Topic -> the README heading (`### ...`) of its page. */
export const HELP_TOPICS: Record<string, { heading: string, summary: string }> = {
  dsl: { heading: 'The DSL', summary: 'the graph, instances, commands and rules files of a template' },
  targets: { heading: 'Targets', summary: 'where machines are created: local, netns, docker, existing, in-process' },
  images: { heading: 'Machines from an image', summary: 'the agent image, the docker target, the same image and user data on a cloud VM' },
  security: { heading: 'Security', summary: 'the DM token, contexts, agent tokens, the mesh\'s private network' },
  troubleshooting: { heading: 'Troubleshooting', summary: 'what to look at when something does not start or answer' },
  output: { heading: 'Output and exit codes', summary: '-o table|wide|json|yaml, the JSON convention, exit codes, --wait' }
}

/** Help pages are not wrapped wider than this, in characters, even on wide terminals. */
const MAX_PAGE_COLUMNS = 100

/** The README's text, from the package root (sources and dist/ sit at different depths). */
function readme (): string | undefined {
  for (const up of ['../../README.md', '../../../README.md']) {
    try { return readFileSync(new URL(up, import.meta.url), 'utf8') } catch { /* try the next one */ }
  }
  return undefined
}

/** The markdown of the section `### heading` (up to the next heading of the same or a higher level). */
export function readmeSection (text: string, heading: string): string | undefined {
  const lines = text.split('\n')
  const start = lines.findIndex(l => /^#{2,4} /.test(l) && l.replace(/^#+ /, '').trim() === heading)
  if (start < 0) return undefined
  const level = (lines[start].match(/^#+/) as RegExpMatchArray)[0].length
  let end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && (l.match(/^#+/) as RegExpMatchArray)[0].length <= level)
  if (end < 0) end = lines.length
  return lines.slice(start + 1, end).join('\n').trim()
}

/** Wraps words to `width` columns, later lines indented by `indent`. */
function wrap (text: string, width: number, first: string, indent: string): string[] {
  const out: string[] = []
  let line = first
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.trim() !== '' && line.length + 1 + word.length > width) {
      out.push(line.trimEnd())
      line = indent
    }
    line += (line === '' || line.endsWith(' ') ? '' : ' ') + word
  }
  if (line.trim() !== '') out.push(line.trimEnd())
  return out
}

/** Markdown to terminal text: paragraphs and list items reflowed to `width`, code and tables kept as they are. */
export function renderMarkdown (markdown: string, width: number): string {
  const plain = (s: string): string => s.replace(/\*\*(.+?)\*\*/g, '$1').replace(/`([^`]+)`/g, '$1')
  const out: string[] = []
  const blocks = markdown.split(/\n\s*\n/)
  for (const block of blocks) {
    const lines = block.split('\n')
    if (lines.every(l => l.startsWith('    ') || l.trim() === '') || lines[0].startsWith('|')) {
      out.push(...lines.map(l => lines[0].startsWith('|') ? plain(l) : l), '')
      continue
    }
    if (/^#+ /.test(lines[0])) { out.push(plain(lines[0].replace(/^#+ /, '')).toUpperCase(), ''); lines.shift() }
    // list items start with "- " or "1. "; their continuation lines are indented
    let item: string[] = []
    const flush = (): void => {
      if (item.length === 0) return
      const text = plain(item.join(' '))
      const bullet = /^(\s*)(- |\d+\. )/.exec(text)
      out.push(...(bullet !== null
        ? wrap(text.slice(bullet[0].length), width, bullet[0], ' '.repeat(bullet[0].length))
        : wrap(text, width, '', '')))
      item = []
    }
    for (const l of lines) {
      if (/^\s*(- |\d+\. )/.test(l)) flush()
      item.push(l.trim().length === 0 ? '' : (/^\s*(- |\d+\. )/.test(l) ? l : l.trim()))
    }
    flush()
    out.push('')
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n'
}

/** The topic page, or undefined when the topic is unknown. */
export function topicPage (topic: string, width = Math.min(terminalColumns() ?? 80, MAX_PAGE_COLUMNS)): string | undefined {
  const entry = HELP_TOPICS[topic]
  if (entry === undefined) return undefined
  const text = readme()
  const section = text === undefined ? undefined : readmeSection(text, entry.heading)
  if (section === undefined) return `${entry.heading}: ${entry.summary}.\n(The README, which holds this page, is not installed here.)\n`
  return renderMarkdown(`### ${entry.heading}\n\n${section}`, width)
}

function topicList (): string {
  const width = Math.max(...Object.keys(HELP_TOPICS).map(t => t.length))
  return 'Topics (meshconf help <topic>):\n' + Object.entries(HELP_TOPICS).map(([t, e]) => `  ${t.padEnd(width)}  ${e.summary}`).join('\n') + '\n'
}

export const registerHelpCommand: CommandRegistration = (program: Command) => {
  program.command('help')
    .description('help on a command, or on a topic: dsl, targets, security, troubleshooting, output')
    .argument('[command-or-topic]', 'a command (app, start, …) or a topic')
    .action(async (subject: string | undefined, _options: unknown, command: Command) => {
      if (subject === undefined) {
        process.stdout.write((await commandHelp()) + '\n' + topicList())
        return
      }
      const page = topicPage(subject) ?? await commandHelp(subject)
      if (page === undefined) command.error(`error: no command or topic "${subject}"\n${topicList().trimEnd()}`, { exitCode: 2, code: 'meshconf.usage' })
      process.stdout.write(page)
    })
}
