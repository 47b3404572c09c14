import { wakeupsOf } from '../db/wakeups.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { requireMembership } from '../partnerships/membership.service.ts'
import { renderEventsAfter, renderEventsAfterForMembers } from './event.render.ts'
import { headSeqs } from './event.repo.ts'
import { eventMessage, HEARTBEAT, STREAM_OPENING } from './event-stream.rules.ts'

/** Where a stream's text goes (the HTTP response), seen through what the streams need of it. */
export interface StreamSink {
  /** Writes a chunk; false when the client's buffer is full (then wait for drained()). */
  write(chunk: string): boolean
  /** Resolves when the client can take more, or went away. */
  drained(): Promise<void>
  /** Ends the stream. */
  end(): void
  /** `fn` runs once when the stream is over, whoever ended it. */
  onClose(fn: () => void): void
}

/** A place among this instance's streams, reserved for a member: start() begins sending, release() gives it back. */
export interface StreamTicket {
  start(sink: StreamSink): void
  release(): void
}

export interface EventStreams {
  /**
   * Checks that `userId` may follow the partnership's log now (a current member: else the 404 of any
   * stranger) and reserves a place within the limits per user and per instance (else 429).
   */
  admit(input: { partnershipId: string; userId: string; afterSeq: number }): Promise<StreamTicket>
  /** Ends every stream and stops listening (shutdown). */
  close(): void
  /** Streams open or reserved. */
  readonly size: number
}

interface Subscriber {
  readonly partnershipId: string
  readonly userId: string
  /** The seq of the last event sent: the next read is `seq > last`, in order. */
  last: number
  sink: StreamSink | null
  reading: boolean
  /** A wake-up came while reading: read again before resting. */
  again: boolean
  /** The client's buffer is full: the partnership's reads pass it by until it drained and caught up by itself. */
  lagging: boolean
  closed: boolean
}

const BATCH = 100

/**
 * The live log of every partnership this instance has subscribers for. The
 * events table is the truth: a wake-up (this instance's writes, other
 * instances' through PostgreSQL NOTIFY) only says "look", and each subscriber
 * is sent what follows the last event it sent, in order, so it never skips nor
 * repeats one. A wake-up reads once per partnership for all its streams here
 * (from the least of their last events, with which of their users are still
 * members); a stream replaying what it missed, or whose client fell behind,
 * reads by itself until it caught up. Each read checks membership in the same
 * statement: a member who left (which appends `member.left`, so wakes the
 * stream) is cut off at once.
 * A poll of the logs' heads every STREAM_POLL_MS delivers what a lost wake-up
 * (a crash between a commit and its NOTIFY, a dropped listening connection)
 * would have.
 */
export function createEventStreams(deps: Pick<Deps, 'db' | 'config'>): EventStreams {
  const { heartbeatMs, pollMs, maxPerUser, maxPerInstance } = deps.config.stream
  const byPartnership = new Map<string, Set<Subscriber>>()
  const perUser = new Map<string, number>()
  let reserved = 0
  let closed = false
  let timers: NodeJS.Timeout[] = []
  let unsubscribe: (() => void) | null = null
  let polling = false

  const everyone = (): Subscriber[] => [...byPartnership.values()].flatMap((subs) => [...subs])
  const wake = (partnershipId: string): void => void readTogether(partnershipId)
  const wakeAll = (): void => {
    for (const partnershipId of byPartnership.keys()) void readTogether(partnershipId)
  }

  /** The partnerships being read for all their streams, each with whether a wake-up came meanwhile. */
  const together = new Map<string, { again: boolean }>()

  async function readTogether(partnershipId: string): Promise<void> {
    const running = together.get(partnershipId)
    if (running) {
      running.again = true
      return
    }
    const state = { again: false }
    together.set(partnershipId, state)
    try {
      do {
        state.again = false
        const subs = [...(byPartnership.get(partnershipId) ?? [])].filter(
          (sub) => !sub.closed && sub.sink !== null && !sub.reading && !sub.lagging
        )
        if (subs.length === 0) break
        const after = Math.min(...subs.map((sub) => sub.last))
        const users = [...new Set(subs.map((sub) => sub.userId))]
        const { members, events } = await renderEventsAfterForMembers(deps.db, partnershipId, users, after, BATCH)
        for (const sub of subs) {
          if (sub.closed || sub.sink === null || sub.lagging) continue
          if (sub.reading) {
            sub.again = true // its own read (begun meanwhile) reads once more
            continue
          }
          if (!members.has(sub.userId)) {
            sub.sink.end()
            continue
          }
          for (const event of events) {
            if (event.seq <= sub.last) continue
            const room = sub.sink.write(eventMessage(event))
            sub.last = event.seq
            if (!room) {
              fallBehind(sub)
              break
            }
          }
        }
        if (events.length === BATCH) state.again = true
      } while (state.again)
    } catch {
      // The database is away: the streams stay open and the next poll reads again from their `last`.
    } finally {
      together.delete(partnershipId)
    }
  }

  /** A client that does not keep up is read for by itself once it drained, not held up with the others. */
  function fallBehind(sub: Subscriber): void {
    sub.lagging = true
    void sub.sink?.drained().then(() => {
      sub.lagging = false
      void read(sub)
    })
  }

  async function read(sub: Subscriber): Promise<void> {
    if (sub.closed || sub.sink === null) return
    if (sub.reading) {
      sub.again = true
      return
    }
    sub.reading = true
    try {
      do {
        sub.again = false
        const { member, events } = await renderEventsAfter(deps.db, sub.partnershipId, sub.userId, sub.last, BATCH)
        if (sub.closed) return
        if (!member) return sub.sink.end()
        for (const event of events) {
          if (!sub.sink.write(eventMessage(event))) await sub.sink.drained()
          sub.last = event.seq
          if (sub.closed) return
        }
        if (events.length === BATCH) sub.again = true
      } while (sub.again && !sub.closed)
    } catch {
      // The database is away: the stream stays open and the next poll reads again from `last`.
    } finally {
      sub.reading = false
    }
  }

  async function poll(): Promise<void> {
    if (polling || byPartnership.size === 0) return
    polling = true
    try {
      const heads = await headSeqs(deps.db, [...byPartnership.keys()])
      for (const [pid, subs] of byPartnership)
        if ([...subs].some((sub) => (heads.get(pid) ?? 0) > sub.last)) void readTogether(pid)
    } catch {
      // Next time.
    } finally {
      polling = false
    }
  }

  // Timers and the listening connection exist only while someone is subscribed.
  function firstIn(): void {
    unsubscribe = wakeupsOf(deps.db)?.subscribe(wake, wakeAll) ?? null
    timers = [
      setInterval(() => {
        for (const sub of everyone()) if (!sub.closed && sub.sink) sub.sink.write(HEARTBEAT)
      }, heartbeatMs).unref(),
      setInterval(() => void poll(), pollMs).unref()
    ]
  }
  function lastOut(): void {
    for (const timer of timers) clearInterval(timer)
    timers = []
    unsubscribe?.()
    unsubscribe = null
  }

  function remove(sub: Subscriber): void {
    if (sub.closed) return
    sub.closed = true
    reserved--
    const count = (perUser.get(sub.userId) ?? 1) - 1
    if (count === 0) perUser.delete(sub.userId)
    else perUser.set(sub.userId, count)
    const subs = byPartnership.get(sub.partnershipId)
    if (subs?.delete(sub) && subs.size === 0) {
      byPartnership.delete(sub.partnershipId)
      if (byPartnership.size === 0) lastOut()
    }
  }

  return {
    get size() {
      return reserved
    },

    async admit({ partnershipId, userId, afterSeq }) {
      await requireMembership(deps.db, partnershipId, userId)
      if (closed) throw new DomainError('OVERLOADED', 'the service is shutting down; retry shortly')
      const mine = perUser.get(userId) ?? 0
      if (mine >= maxPerUser)
        throw new DomainError(
          'TOO_MANY_STREAMS',
          `you already have ${mine} open event streams on this server (at most ${maxPerUser}); close one first`
        )
      if (reserved >= maxPerInstance)
        throw new DomainError(
          'TOO_MANY_STREAMS',
          'this server has as many open event streams as it takes; retry shortly'
        )
      reserved++
      perUser.set(userId, mine + 1)
      const sub: Subscriber = {
        partnershipId,
        userId,
        last: afterSeq,
        sink: null,
        reading: false,
        again: false,
        lagging: false,
        closed: false
      }
      return {
        start(sink) {
          if (sub.closed) return sink.end()
          sub.sink = sink
          if (byPartnership.size === 0) firstIn()
          const subs = byPartnership.get(partnershipId) ?? new Set()
          subs.add(sub)
          byPartnership.set(partnershipId, subs)
          sink.onClose(() => remove(sub)) // at once if the client is already gone
          if (sub.closed) return
          sink.write(STREAM_OPENING)
          void read(sub) // what was missed, from the table; then the wake-ups continue from there
        },
        release: () => remove(sub)
      }
    },

    close() {
      closed = true
      for (const sub of everyone()) sub.sink?.end()
    }
  }
}
