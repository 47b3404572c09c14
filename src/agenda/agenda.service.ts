import type { Deps } from '../deps.ts'
import { noSuchPartnership } from '../partnerships/membership.service.ts'
import { agendaCheck, agendaFactsForMember } from './agenda.render.ts'
import { agendaJson, agendaListsJson, toAgendaLists } from './agenda.schemas.ts'

/** How far ahead the agenda looks for reviews coming due. */
export const AGENDA_HORIZON_MS = 14 * 86_400_000

/**
 * The caller's check-in agenda, as the JSON sent, in a partnership they are a current member of (observers
 * included); 404 otherwise. Lists kept in memory are served again only after one index probe confirmed the
 * caller's membership and role and the partnership's log head, and only before the clock alone could change them.
 */
export async function agendaOf(
  deps: Pick<Deps, 'db' | 'now' | 'agendaBodies'>,
  input: { partnershipId: string; userId: string }
): Promise<string> {
  const asOf = deps.now()
  const horizon = new Date(asOf.getTime() + AGENDA_HORIZON_MS)
  const key = `${input.partnershipId}/${input.userId}`
  const kept = deps.agendaBodies?.get(key)
  if (kept !== undefined && (kept.validUntil === null || asOf.getTime() < kept.validUntil)) {
    const current = await agendaCheck(deps.db, input)
    if (current === undefined) {
      deps.agendaBodies?.delete(key)
      throw noSuchPartnership()
    }
    if (current.head === kept.head && current.role === kept.role) return header(kept.role, kept.lists)
  }
  const facts = await agendaFactsForMember(deps.db, { ...input, asOf, horizon })
  if (facts === undefined) throw noSuchPartnership()
  const lists = agendaListsJson(toAgendaLists(facts, input.partnershipId))
  deps.agendaBodies?.set(key, { role: facts.role, head: facts.head, validUntil: facts.validUntil, lists })
  return header(facts.role, lists)

  function header(role: 'partner' | 'observer', lists: string): string {
    return agendaJson(
      { partnershipId: input.partnershipId, role, asOf: asOf.toISOString(), horizon: horizon.toISOString() },
      lists
    )
  }
}
