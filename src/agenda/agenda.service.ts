import type { Deps } from '../deps.ts'
import { noSuchPartnership } from '../partnerships/membership.service.ts'
import { type AgendaFacts, agendaFactsForMember } from './agenda.render.ts'

/** How far ahead the agenda looks for reviews coming due. */
export const AGENDA_HORIZON_MS = 14 * 86_400_000

/** The caller's check-in agenda in a partnership they are a current member of (observers included); 404 otherwise. */
export async function agendaOf(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; userId: string }
): Promise<{ facts: AgendaFacts; asOf: Date; horizon: Date }> {
  const asOf = deps.now()
  const horizon = new Date(asOf.getTime() + AGENDA_HORIZON_MS)
  const facts = await agendaFactsForMember(deps.db, { ...input, horizon })
  if (facts === undefined) throw noSuchPartnership()
  return { facts, asOf, horizon }
}
