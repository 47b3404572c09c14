import { endAgreements, voidOpenProposals } from '../agreements/partner-change.service.ts'
import { appendEvent } from '../audit/append.service.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { revokeInvitationsOf } from '../invitations/invitation.service.ts'
import {
  currentPartners,
  markDissolved,
  noSuchPartnership,
  removeMember,
  requireMembership
} from '../partnerships/membership.service.ts'
import { lockPartnership } from '../partnerships/partnership.repo.ts'
import { closeOpenReviews, releaseResponder } from '../reviews/review.service.ts'

export const MIN_PARTNERS = 2

/**
 * Leaves a partnership: always allowed, alone, even when dissolved; nobody can
 * block it, in one transaction under the partnership lock: access ends, the
 * leaver's pending invitations are revoked, and a partner leaving voids every
 * open proposal and is released from open reviews. When fewer than two
 * partners remain, the partnership is dissolved (read-only): its agreements
 * end and their open reviews close.
 */
export async function leavePartnership(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; userId: string }
): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const partnership = await lockPartnership(tx, input.partnershipId)
    if (!partnership) throw noSuchPartnership()
    const membership = await requireMembership(tx, input.partnershipId, input.userId)
    await removeMember(tx, deps.now, { partnershipId: partnership.id, membership })
    await revokeInvitationsOf(tx, deps.now, { partnershipId: partnership.id, userId: input.userId })
    if (membership.role !== 'partner' || partnership.status !== 'active') return
    await voidOpenProposals(tx, deps.now, {
      partnershipId: partnership.id,
      actorId: input.userId,
      reason: 'partner-left'
    })
    const partners = await currentPartners(tx, partnership.id)
    if (partners.length >= MIN_PARTNERS) {
      await releaseResponder(tx, deps.now, { partnership, userId: input.userId })
      return
    }
    await markDissolved(tx, partnership.id, deps.now())
    const endedAgreements = await endAgreements(tx, deps.now, partnership.id)
    const closedReviews = await closeOpenReviews(tx, deps.now, partnership.id)
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'partnership.dissolved',
      actorId: input.userId,
      subject: { type: 'partnership', id: partnership.id },
      data: {
        reason: 'fewer than two partners remain',
        remainingPartners: partners.length,
        endedAgreements,
        closedReviews
      }
    })
  })
}
