// A minimal SMTP client (RFC 5321, no authentication, no TLS) for the commands' `email` instruction: the DM hands
// the message to a relay it is configured with (typically the host's own MTA on localhost).
import { connect, type Socket } from 'node:net'

export interface SmtpSettings {
  /** Relay host; required to send e-mail. */
  host: string
  /** Relay port; default 25. */
  port?: number
  /** Envelope and header sender; default `meshconf@<hostname of the relay>`. */
  from?: string
  /** Longest wait for the whole exchange, in milliseconds; default 10 000. */
  timeoutMs?: number
}

export class SmtpError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SmtpError'
  }
}

/** Largest reply line read from the relay, in bytes: a hostile relay cannot make the DM buffer without bound. */
const MAX_REPLY_BYTES = 64 * 1024
const DEFAULT_TIMEOUT_MS = 10_000

/** `Subject:` on the message's first line becomes the subject (Roboconf's convention); the rest is the body. */
export function splitSubject (message: string): { subject: string, body: string } {
  const m = /^\s*subject:\s*(.*)\n?([\s\S]*)$/i.exec(message)
  return m === null ? { subject: 'meshconf', body: message } : { subject: m[1].trim(), body: m[2] }
}

/** Sends one message; resolves once the relay accepted it. */
export async function sendMail (settings: SmtpSettings, to: string[], message: string): Promise<void> {
  const from = settings.from ?? `meshconf@${settings.host}`
  for (const address of [from, ...to]) {
    if (!/^[^\s<>@,]+@[^\s<>@,]+$/.test(address)) throw new SmtpError(`${JSON.stringify(address)} is not an e-mail address`)
  }
  const { subject, body } = splitSubject(message)
  const socket = connect({ host: settings.host, port: settings.port ?? 25 })
  const timer = setTimeout(() => socket.destroy(new SmtpError(`no answer from ${settings.host} within ${settings.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)), settings.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  try {
    const replies = replyReader(socket)
    const expect = async (code: string, what: string): Promise<void> => {
      const reply = await replies()
      if (!reply.startsWith(code)) throw new SmtpError(`the relay refused ${what}: ${reply.slice(0, 200)}`)
    }
    const send = async (line: string, code: string, what: string): Promise<void> => {
      socket.write(`${line}\r\n`)
      await expect(code, what)
    }
    await expect('220', 'the connection')
    await send('HELO meshconf', '250', 'HELO')
    await send(`MAIL FROM:<${from}>`, '250', 'the sender')
    for (const address of to) await send(`RCPT TO:<${address}>`, '250', `the recipient ${address}`)
    await send('DATA', '354', 'the data')
    const headers = [`From: ${from}`, `To: ${to.join(', ')}`, `Subject: ${subject.replace(/[\r\n]/g, ' ')}`, `Date: ${new Date().toUTCString()}`, '']
    // dot-stuffing: a line starting with '.' gets another
    const text = [...headers, ...body.split(/\r?\n/)].map(l => l.startsWith('.') ? `.${l}` : l).join('\r\n')
    await send(`${text}\r\n.`, '250', 'the message')
    socket.write('QUIT\r\n')
  } finally {
    clearTimeout(timer)
    socket.end()
  }
}

/** Reads complete replies (the last line of a multi-line reply is `ddd `). */
function replyReader (socket: Socket): () => Promise<string> {
  let buffer = ''
  let failure: Error | undefined
  const waiting: Array<() => void> = []
  const wake = (): void => { waiting.splice(0).forEach(w => w()) }
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffer += chunk
    if (buffer.length > MAX_REPLY_BYTES) socket.destroy(new SmtpError('the relay sent an over-long reply'))
    wake()
  })
  socket.on('error', err => { failure = err; wake() })
  socket.on('close', () => { failure ??= new SmtpError('the relay closed the connection'); wake() })
  return async () => {
    for (;;) {
      const lines = buffer.split('\r\n')
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3} /.test(lines[i]) || /^\d{3}$/.test(lines[i])) {
          const reply = lines.slice(0, i + 1).join('\n')
          buffer = lines.slice(i + 1).join('\r\n')
          return reply.split('\n').pop()!
        }
      }
      if (failure !== undefined) throw failure instanceof SmtpError ? failure : new SmtpError(failure.message)
      await new Promise<void>(resolve => waiting.push(resolve))
    }
  }
}
