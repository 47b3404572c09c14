import type { DbOrTx } from '../db/client.ts'
import * as repo from './event.repo.ts'
import { chainEvents, type EventView, type NewEvent, toEventView } from './event.rules.ts'

export type { NewEvent } from './event.rules.ts'

/**
 * Appends an event to the partnership's chain, inside the caller's transaction.
 * The caller must hold the partnership row lock (lockPartnership): that lock is
 * what makes `seq` gapless and the chain linear under concurrent writers.
 */
export async function appendEvent(tx: DbOrTx, now: () => Date, input: NewEvent): Promise<EventView> {
  const [event] = chainEvents((await repo.lastEvent(tx, input.partnershipId)) ?? null, [input], now())
  await repo.insertEvent(tx, event!)
  return toEventView(event!)
}
