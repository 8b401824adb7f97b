// Shared bits of the pages: htm bound to Preact, state colours and labels, time formats, the confirmation dialog.
import { h } from 'preact'
import htm from 'htm'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Status } from './api.js'

export const html = htm.bind(h)

/** Every state has a colour and a text label (colour is never the only signal); the CSS classes live in console.css. */
export const STATES: Status[] = ['NOT_DEPLOYED', 'DEPLOYING', 'DEPLOYED_STOPPED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR',
  'STARTING', 'DEPLOYED_STARTED', 'STOPPING', 'UNDEPLOYING', 'PROBLEM']

export const STATE_COLOURS: Record<Status, string> = {
  NOT_DEPLOYED: '#d5d9de',
  DEPLOYING: '#f4c76b',
  DEPLOYED_STOPPED: '#9db7d5',
  UNRESOLVED: '#f29e4c',
  WAITING_FOR_ANCESTOR: '#e8d28a',
  STARTING: '#f4c76b',
  DEPLOYED_STARTED: '#5cb85c',
  STOPPING: '#f4c76b',
  UNDEPLOYING: '#f4c76b',
  PROBLEM: '#d9534f'
}

export function StateBadge ({ status }: { status: Status }) {
  return html`<span class=${'state state-' + status}>${status}</span>`
}

/** "12 s ago", "3 min ago", "2 h ago" */
export function ago (iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return 'unknown'
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (seconds < 90) return `${seconds} s ago`
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

export function time (iso: string | undefined): string {
  if (iso === undefined) return ''
  const d = new Date(iso)
  return isNaN(d.getTime()) ? iso : d.toLocaleTimeString()
}

// ---- a modal dialog (the browser's <dialog>: focus is kept inside, Escape cancels)

export function Modal ({ title, onClose, children, wide }: { title: string, onClose: () => void, children: unknown, wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const dialog = ref.current
    if (dialog === null) return
    if (!dialog.open) dialog.showModal()
    const cancel = (e: Event): void => { e.preventDefault(); onClose() }
    dialog.addEventListener('cancel', cancel)
    return () => { dialog.removeEventListener('cancel', cancel); if (dialog.open) dialog.close() }
  }, [])
  return html`<dialog ref=${ref} class=${wide === true ? 'modal wide' : 'modal'} aria-labelledby="modal-title">
    <h2 id="modal-title">${title}</h2>
    ${children}
  </dialog>`
}

export interface ConfirmRequest {
  title: string
  /** What will happen, said plainly. */
  body: unknown
  confirmLabel: string
  danger?: boolean
  run: () => Promise<unknown>
}

let showConfirm: (request: ConfirmRequest) => void = () => {}

/** Asks for a confirmation, then runs the action; its error, if any, is shown in the dialog. */
export function confirmAction (request: ConfirmRequest): void { showConfirm(request) }

export function ConfirmHost () {
  const [request, setRequest] = useState<ConfirmRequest | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  showConfirm = r => { setError(undefined); setBusy(false); setRequest(r) }
  if (request === undefined) return null
  const close = (): void => setRequest(undefined)
  const go = async (): Promise<void> => {
    setBusy(true)
    try {
      await request.run()
      close()
    } catch (err) {
      setError((err as Error).message)
      setBusy(false)
    }
  }
  return html`<${Modal} title=${request.title} onClose=${close}>
    <div class="confirm-body">${request.body}</div>
    ${error !== undefined ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="buttons">
      <button type="button" onClick=${close}>Cancel</button>
      <button type="button" class=${request.danger === true ? 'danger' : 'primary'} disabled=${busy} onClick=${go} autofocus>${request.confirmLabel}</button>
    </div>
  </${Modal}>`
}

export function ErrorLine ({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null
  return html`<p class="error" role="alert">${(error as Error).message ?? String(error)}</p>`
}
