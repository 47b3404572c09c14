import type { Deps } from '../deps.ts'
import { encodeCursor } from '../http/pagination.ts'
import { keptUtf8 } from '../lib/kept-bytes.ts'
import { noSuchPartnership, requireMembership } from '../partnerships/membership.service.ts'
import { verifiedChainBreak } from './chain.service.ts'
import { eventsCheck, renderEventsPage } from './event.render.ts'
import * as repo from './event.repo.ts'
import { type ChainBreak, type EventView, toEventView } from './event.rules.ts'

/** A page of the log after `afterSeq`, for a member, as rows mapped to the schema: the reference the database-rendered page (listEventsJson) is held equal to. */
export async function listEvents(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; userId: string; afterSeq: number; limit: number }
): Promise<EventView[]> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return (await repo.listEvents(deps.db, input.partnershipId, input.afterSeq, input.limit)).map(toEventView)
}

/**
 * The same page as listEvents, rendered by the database with the membership
 * check in one statement: `items` is the JSON array as the API shows it, and
 * `after` the seq to continue after when more events follow (else null).
 */
export async function listEventsJson(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; userId: string; afterSeq: number; limit: number }
): Promise<{ items: string; after: number | null }> {
  const page = await renderEventsPage(deps.db, input.partnershipId, input.userId, input.afterSeq, input.limit)
  if (!page.member) await requireMembership(deps.db, input.partnershipId, input.userId) // throws the usual 404
  return { items: page.items, after: page.more ? page.lastSeq : null }
}

/**
 * GET …/events' whole body as bytes, for a current member (404 otherwise): a page kept in memory is served
 * after one statement confirmed the caller's membership and that the page's rows (and the one after it) are
 * the row versions it was rendered from; else the page is rendered by the database and kept.
 */
export async function eventsPageBody(
  deps: Pick<Deps, 'db' | 'eventPages'>,
  input: { partnershipId: string; userId: string; afterSeq: number; limit: number }
): Promise<Buffer> {
  const key = `${input.partnershipId}/${input.afterSeq}/${input.limit}`
  const kept = deps.eventPages?.get(key)
  if (kept !== undefined) {
    const current = await eventsCheck(deps.db, input.partnershipId, input.userId, input.afterSeq, input.limit)
    if (!current.member) throw noSuchPartnership()
    if (current.versions === kept.versions) return kept.body
  }
  const page = await renderEventsPage(deps.db, input.partnershipId, input.userId, input.afterSeq, input.limit)
  if (!page.member) await requireMembership(deps.db, input.partnershipId, input.userId)
  const nextCursor = page.more ? encodeCursor({ seq: page.lastSeq }) : null
  const body = keptUtf8(`{"items":${page.items},"nextCursor":${JSON.stringify(nextCursor)}}`)
  deps.eventPages?.set(key, { versions: page.versions, body })
  return body
}

export interface Verification {
  valid: boolean
  eventCount: number
  head: { seq: number; hash: string } | null
  firstBrokenSeq: number | null
  reason: ChainBreak['reason'] | null
}

/** Recomputes the chain (chain.service.ts: in PostgreSQL, but for blocks found intact before and unchanged since) and names the first broken link. */
export async function verifyChain(
  deps: Pick<Deps, 'db' | 'serverSecrets' | 'now'>,
  input: { partnershipId: string; userId: string }
): Promise<Verification> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  const head = await repo.lastEvent(deps.db, input.partnershipId)
  const broken = head ? await verifiedChainBreak(deps, input.partnershipId, head.seq) : null
  if (broken)
    return { valid: false, eventCount: broken.seq - 1, head: null, firstBrokenSeq: broken.seq, reason: broken.reason }
  return {
    valid: true,
    eventCount: head?.seq ?? 0,
    head: head ? { seq: head.seq, hash: head.hash } : null,
    firstBrokenSeq: null,
    reason: null
  }
}
