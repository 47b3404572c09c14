import { jcsHash } from '../lib/hash.ts'
import type { EventRow } from './event.sql.ts'

/** An event exactly as the API returns it; `hash` covers every other field. */
export interface EventView {
  seq: number
  partnershipId: string
  type: string
  actorId: string | null
  subject: { type: string, id: string }
  data: Record<string, unknown>
  at: string
  prevHash: string | null
  hash: string
}

export function toEventView (row: EventRow): EventView {
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

/** The hash of an event: JCS + SHA-256 over the returned object minus `hash`, so any client can recompute it. */
export function hashEvent (event: Omit<EventView, 'hash'>): string {
  const { seq, partnershipId, type, actorId, subject, data, at, prevHash } = event
  return jcsHash({ seq, partnershipId, type, actorId, subject, data, at, prevHash })
}

export type ChainBreak = { seq: number, reason: 'seq-gap' | 'prev-hash-mismatch' | 'hash-mismatch' }

/**
 * Checks a run of consecutive events, given the hash of the event before the
 * first (null when the run starts at seq 1). Returns the first broken link.
 */
export function findChainBreak (run: readonly EventView[], previous: { seq: number, hash: string | null }): ChainBreak | null {
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
