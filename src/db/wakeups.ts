// Wake-ups of the live event stream: "the log of this partnership grew, look". They carry no event: the events
// table is the truth, and each subscriber reads what follows the last event it sent. A lost wake-up only delays
// delivery until the stream's own poll of the logs' heads (audit/event-stream.service.ts).
//
// Sent after commit, never inside the writing transaction: on PostgreSQL 15 a transaction that queued a NOTIFY
// takes a database-wide lock at commit, held through its WAL flush, which would serialize every writer.
import type { DbOrTx } from './handles.ts'

/** The PostgreSQL channel of wake-ups; the payload is a partnership id. */
export const EVENTS_CHANNEL = 'accord_events'

/** How wake-ups reach other instances (PostgreSQL: NOTIFY and LISTEN); absent on PGlite (one process). */
export interface WakeupTransport {
  /** Sends one wake-up per partnership id, in one statement. */
  notify(partnershipIds: readonly string[]): Promise<unknown>
  /** Listens on the channel; `onListen` is called on every (re)connection, when wake-ups may have been missed. */
  listen(onWake: (partnershipId: string) => void, onListen: () => void): Promise<{ unlisten(): Promise<unknown> }>
}

export interface Wakeups {
  /** Wakes the partnership's subscribers on every instance: fire-and-forget, coalesced, never throws. */
  send(partnershipId: string): void
  /**
   * Calls `onWake` for every wake-up (this instance's and, through the transport, every other's), and
   * `onMissed` when wake-ups may have been lost (the listening connection was re-established). Returns the
   * unsubscribe function.
   */
  subscribe(onWake: (partnershipId: string) => void, onMissed: () => void): () => void
}

const LISTEN_RETRY_MS = 1000

/** Wake-ups delivered in this process at once and, with a transport, to every other instance. */
export function createWakeups(transport?: WakeupTransport): Wakeups {
  const subscribers = new Set<{ onWake: (pid: string) => void; onMissed: () => void }>()
  let outgoing = new Set<string>()
  let flushing = false
  // Partnerships to NOTIFY: one statement in flight at a time, the next one carrying all that came meanwhile, so
  // a busy instance sends about one NOTIFY per round trip whatever its write rate (each is a small transaction
  // that PostgreSQL commits on its own).
  let remote = new Set<string>()
  let notifying = false
  const notifyRemote = (): void => {
    if (!transport || notifying || remote.size === 0) return
    const pids = [...remote]
    remote = new Set()
    notifying = true
    transport
      .notify(pids)
      .catch(() => {}) // the other instances' polls catch up
      .finally(() => {
        notifying = false
        notifyRemote()
      })
  }
  let listening: Promise<{ unlisten(): Promise<unknown> } | null> | null = null

  const deliver = (pid: string): void => {
    for (const s of subscribers) s.onWake(pid)
  }
  const missed = (): void => {
    for (const s of subscribers) s.onMissed()
  }
  // Every send of one turn of the event loop is delivered here together, and joins the next NOTIFY.
  const flush = (): void => {
    flushing = false
    const pids = [...outgoing]
    outgoing = new Set()
    for (const pid of pids) deliver(pid)
    if (!transport) return
    for (const pid of pids) remote.add(pid)
    notifyRemote()
  }
  const listen = (): void => {
    if (!transport || listening || subscribers.size === 0) return
    listening = transport.listen(deliver, missed).catch(() => {
      // The database is away: retry while anyone here still listens (their polls cover the meantime).
      setTimeout(() => {
        listening = null
        listen()
      }, LISTEN_RETRY_MS).unref()
      return null
    })
  }
  return {
    send(pid) {
      outgoing.add(pid)
      if (flushing) return
      flushing = true
      setImmediate(flush)
    },
    subscribe(onWake, onMissed) {
      const subscriber = { onWake, onMissed }
      subscribers.add(subscriber)
      listen()
      return () => {
        subscribers.delete(subscriber)
        if (subscribers.size > 0 || !listening) return
        const stopping = listening
        listening = null
        void stopping.then((l) => l?.unlisten()).catch(() => {})
      }
    }
  }
}

const wakeupsByDb = new WeakMap<object, Wakeups>()
const touchedByTx = new WeakMap<object, Set<string>>()

/** Gives a database handle its wake-ups (createDb does, for every database it opens). */
export function registerWakeups(db: DbOrTx, wakeups: Wakeups): void {
  wakeupsByDb.set(db, wakeups)
}

/** The wake-ups of a database handle, if it has any. */
export function wakeupsOf(db: DbOrTx): Wakeups | undefined {
  return wakeupsByDb.get(db)
}

/** The transaction door: collects the partnerships whose logs `tx` writes, to wake after it commits. */
export function collectTouched(tx: DbOrTx): Set<string> {
  const touched = new Set<string>()
  touchedByTx.set(tx, touched)
  return touched
}

/**
 * Says that a statement on `handle` appended events to the partnership's log. Every writer of the events
 * table calls it. In a transaction opened by the door, the wake-up goes after the commit; on the pool (a
 * statement that committed on its own), at once. A transaction opened elsewhere wakes nobody: the polls
 * deliver its events.
 */
export function eventsAppended(handle: DbOrTx, partnershipId: string): void {
  const touched = touchedByTx.get(handle)
  if (touched) touched.add(partnershipId)
  else wakeupsByDb.get(handle)?.send(partnershipId)
}
