import type { DbOrTx } from '../db/client.ts'
import type { Deps } from '../deps.ts'
import { encodeCursor } from '../http/pagination.ts'
import { requireMembership } from '../partnerships/membership.service.ts'
import * as repo from './event.repo.ts'
import { type ChainBreak, type EventView, findChainBreak, hashEvent, toEventView } from './event.rules.ts'

export interface NewEvent {
  partnershipId: string
  type: string
  actorId: string | null
  subject: { type: string, id: string }
  data?: Record<string, unknown>
}

/**
 * Appends an event to the partnership's chain, inside the caller's transaction.
 * The caller must hold the partnership row lock (lockPartnership): that lock is
 * what makes `seq` gapless and the chain linear under concurrent writers.
 */
export async function appendEvent (tx: DbOrTx, now: () => Date, input: NewEvent): Promise<EventView> {
  const last = await repo.lastEvent(tx, input.partnershipId)
  const at = now()
  const base = {
    seq: (last?.seq ?? 0) + 1,
    partnershipId: input.partnershipId,
    type: input.type,
    actorId: input.actorId,
    subject: input.subject,
    data: input.data ?? {},
    at: at.toISOString(),
    prevHash: last?.hash ?? null
  }
  const hash = hashEvent(base)
  await repo.insertEvent(tx, {
    partnershipId: base.partnershipId, seq: base.seq, type: base.type, actorId: base.actorId,
    subjectType: base.subject.type, subjectId: base.subject.id, data: base.data, at, prevHash: base.prevHash, hash
  })
  return { ...base, hash }
}

/** A page of the log after `afterSeq`, for a member, as rows mapped to the schema: the reference the database-rendered page (listEventsJson) is held equal to. */
export async function listEvents (deps: Pick<Deps, 'db'>, input: { partnershipId: string, userId: string, afterSeq: number, limit: number }): Promise<EventView[]> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return (await repo.listEvents(deps.db, input.partnershipId, input.afterSeq, input.limit)).map(toEventView)
}

/**
 * The same page as listEvents, rendered by the database with the membership
 * check in one statement, as the response body (`{items, nextCursor}`).
 */
export async function listEventsJson (deps: Pick<Deps, 'db'>, input: { partnershipId: string, userId: string, afterSeq: number, limit: number }): Promise<string> {
  const page = await repo.renderEventsPage(deps.db, input.partnershipId, input.userId, input.afterSeq, input.limit)
  if (!page.member) await requireMembership(deps.db, input.partnershipId, input.userId) // throws the usual 404
  const nextCursor = page.more && page.lastSeq !== null ? encodeCursor({ seq: page.lastSeq }) : null
  return `{"items":${page.items},"nextCursor":${JSON.stringify(nextCursor)}}`
}

export interface Verification {
  valid: boolean
  eventCount: number
  head: { seq: number, hash: string } | null
  firstBrokenSeq: number | null
  reason: ChainBreak['reason'] | null
}

const BATCH = 1000

/** Recomputes the whole chain in batches and names the first broken link. */
export async function verifyChain (deps: Pick<Deps, 'db'>, input: { partnershipId: string, userId: string }): Promise<Verification> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  let previous: { seq: number, hash: string | null } = { seq: 0, hash: null }
  for (;;) {
    const run = (await repo.listEvents(deps.db, input.partnershipId, previous.seq, BATCH)).map(toEventView)
    const broken = findChainBreak(run, previous)
    if (broken) return { valid: false, eventCount: broken.seq - 1, head: null, firstBrokenSeq: broken.seq, reason: broken.reason }
    const last = run.at(-1)
    if (last) previous = { seq: last.seq, hash: last.hash }
    if (run.length < BATCH) break
  }
  return { valid: true, eventCount: previous.seq, head: previous.seq === 0 ? null : { seq: previous.seq, hash: previous.hash! }, firstBrokenSeq: null, reason: null }
}
