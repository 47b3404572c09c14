import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { insightFactsForMember } from './insights.render.ts'
import { type Insights, insightsOf } from './insights.rules.ts'

/** An agreement's insights for a current member (observers included); 404 for anyone else. */
export async function agreementInsights(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; agreementId: string; userId: string }
): Promise<Insights & { agreementId: string }> {
  const now = deps.now()
  const facts = await insightFactsForMember(deps.db, { ...input, now })
  if (facts === undefined) throw new DomainError('NOT_FOUND', 'no such agreement')
  return { agreementId: input.agreementId, ...insightsOf(facts, now) }
}
