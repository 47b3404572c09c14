import { jcsHash } from '../lib/hash.ts'
import type { EventRow } from './event.sql.ts'

/** An event exactly as the API returns it; `hash` covers every other field. */
export interface EventView {
  seq: number
  partnershipId: string
  type: string
  actorId: string | null
  subject: { type: string; id: string }
  data: Record<string, unknown>
  at: string
  prevHash: string | null
  hash: string
}

export function toEventView(row: EventRow): EventView {
  return {
    seq: row.seq,
    partnershipId: row.partnershipId,
    type: row.type,
    actorId: row.actorId,
    subject: { type: row.subjectType, id: row.subjectId },
    data: row.data,
    at: row.at.toISOString(),
    prevHash: row.prevHash,
    hash: row.hash
  }
}

/** An event to append, before the log gives it a place (seq) and a link (prevHash, hash). */
export interface NewEvent {
  partnershipId: string
  type: string
  actorId: string | null
  subject: { type: string; id: string }
  data?: Record<string, unknown>
}

/**
 * The only way events are chained: each of `events`, in order, after the
 * log's head `last` (null for an empty log), at time `at`, with its seq and
 * hash. appendEvent, the sign-off's one-statement write and the bench's seed
 * all chain through here, so a client verifying the log sees one rule.
 */
export function chainEvents(
  last: { seq: number; hash: string } | null,
  events: readonly NewEvent[],
  at: Date
): EventRow[] {
  let seq = last?.seq ?? 0
  let prevHash = last?.hash ?? null
  return events.map((e) => {
    seq++
    const data = e.data ?? {}
    const hash = hashEvent({
      seq,
      partnershipId: e.partnershipId,
      type: e.type,
      actorId: e.actorId,
      subject: e.subject,
      data,
      at: at.toISOString(),
      prevHash
    })
    const row: EventRow = {
      partnershipId: e.partnershipId,
      seq,
      type: e.type,
      actorId: e.actorId,
      subjectType: e.subject.type,
      subjectId: e.subject.id,
      data,
      at,
      prevHash,
      hash
    }
    prevHash = hash
    return row
  })
}

/** The hash of an event: JCS + SHA-256 over the returned object minus `hash`, so any client can recompute it. */
export function hashEvent(event: Omit<EventView, 'hash'>): string {
  const { seq, partnershipId, type, actorId, subject, data, at, prevHash } = event
  return jcsHash({ seq, partnershipId, type, actorId, subject, data, at, prevHash })
}

export type ChainBreak = { seq: number; reason: 'seq-gap' | 'prev-hash-mismatch' | 'hash-mismatch' }

/**
 * Checks a run of consecutive events, given the hash of the event before the
 * first (null when the run starts at seq 1). Returns the first broken link.
 */
export function findChainBreak(
  run: readonly EventView[],
  previous: { seq: number; hash: string | null }
): ChainBreak | null {
  let expectedSeq = previous.seq + 1
  let prevHash = previous.hash
  for (const e of run) {
    if (e.seq !== expectedSeq) return { seq: expectedSeq, reason: 'seq-gap' }
    if (e.prevHash !== prevHash) return { seq: e.seq, reason: 'prev-hash-mismatch' }
    if (hashEvent(e) !== e.hash) return { seq: e.seq, reason: 'hash-mismatch' }
    prevHash = e.hash
    expectedSeq++
  }
  return null
}
