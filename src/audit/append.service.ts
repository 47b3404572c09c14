import type { DbOrTx } from '../db/client.ts'
import * as repo from './event.repo.ts'
import { type EventView, hashEvent } from './event.rules.ts'

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
