import { endAgreements, voidOpenProposals } from '../agreements/partner-change.ts'
import { appendEvent } from '../audit/audit.service.ts'
import type { Deps } from '../deps.ts'
import { revokeInvitationsOf } from '../invitations/invitation.service.ts'
import { closeOpenReviews, releaseResponder } from '../reviews/review.service.ts'
import { noSuchPartnership, requireMembership } from './membership.service.ts'
import * as repo from './partnership.repo.ts'
import { transaction } from '../db/transaction.ts'

export const MIN_PARTNERS = 2

/**
 * Leaves a partnership: always allowed, alone, even when dissolved; nobody can
 * block it. Access ends, and the leaver's pending invitations are revoked, in the same transaction. When a partner leaves and
 * fewer than two partners remain, the partnership is dissolved (read-only) and
 * its agreements end. A partner leaving voids every open proposal.
 */
export async function leavePartnership (deps: Pick<Deps, 'db' | 'now'>, input: { partnershipId: string, userId: string }): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const partnership = await repo.lockPartnership(tx, input.partnershipId)
    if (!partnership) throw noSuchPartnership()
    const membership = await requireMembership(tx, input.partnershipId, input.userId)
    const at = deps.now()
    await repo.endMembership(tx, membership.id, at)
    await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'member.left', actorId: input.userId, subject: { type: 'user', id: input.userId }, data: { role: membership.role } })
    await revokeInvitationsOf(tx, deps.now, { partnershipId: partnership.id, userId: input.userId })
    if (membership.role !== 'partner' || partnership.status !== 'active') return
    await voidOpenProposals(tx, deps.now, { partnershipId: partnership.id, actorId: input.userId, reason: 'partner-left' })
    const partners = (await repo.listCurrentMembers(tx, [partnership.id])).filter((m) => m.role === 'partner')
    if (partners.length < MIN_PARTNERS) {
      await repo.updatePartnership(tx, partnership.id, { status: 'dissolved', dissolvedAt: at }, at)
      const endedAgreements = await endAgreements(tx, deps.now, partnership.id)
      const closedReviews = await closeOpenReviews(tx, deps.now, partnership.id)
      await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'partnership.dissolved', actorId: input.userId, subject: { type: 'partnership', id: partnership.id }, data: { reason: 'fewer than two partners remain', remainingPartners: partners.length, endedAgreements, closedReviews } })
    } else {
      await releaseResponder(tx, deps.now, { partnership, userId: input.userId })
    }
  })
}
