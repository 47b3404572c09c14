import { endAgreements, voidOpenProposals } from '../agreements/partner-change.service.ts'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { revokeInvitationsOf } from '../invitations/invitation.service.ts'
import {
  currentPartners,
  markDissolved,
  noSuchPartnership,
  removeMember,
  requireMembership
} from '../partnerships/membership.service.ts'
import { findCurrentMembership, lockPartnership } from '../partnerships/partnership.repo.ts'
import type { MembershipRow, PartnershipRow } from '../partnerships/partnership.sql.ts'
import { closeOpenReviews, releaseResponder } from '../reviews/review.service.ts'
import { deleteWebhooksOf } from '../webhooks/webhook.service.ts'

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
    await leaveLocked(tx, deps.now, { partnership, membership, reason: 'partner-left' })
  })
}

/**
 * The leave itself, inside a transaction that holds the partnership lock (a leave, or an erasure, which
 * leaves every partnership in its one transaction). The webhooks the leaver registered are deleted: nothing
 * of the partnership goes on reaching their endpoints.
 */
export async function leaveLocked(
  tx: DbOrTx,
  now: () => Date,
  input: {
    partnership: PartnershipRow
    membership: MembershipRow
    reason: 'partner-left' | 'erased'
    /** The partner who withdrew their consent to this observer (removeObserver), when it is not a leave. */
    removedBy?: string
  }
): Promise<void> {
  const { partnership, membership } = input
  const userId = membership.userId
  await removeMember(tx, now, {
    partnershipId: partnership.id,
    membership,
    ...(input.removedBy === undefined ? {} : { removedBy: input.removedBy })
  })
  await revokeInvitationsOf(tx, now, { partnershipId: partnership.id, userId })
  await deleteWebhooksOf(tx, now, { partnershipId: partnership.id, userId, reason: input.reason })
  if (membership.role !== 'partner' || partnership.status !== 'active') return
  await voidOpenProposals(tx, now, {
    partnershipId: partnership.id,
    actorId: userId,
    reason: 'partner-left'
  })
  const partners = await currentPartners(tx, partnership.id)
  if (partners.length >= MIN_PARTNERS) {
    await releaseResponder(tx, now, { partnership, userId })
    return
  }
  await markDissolved(tx, partnership.id, now())
  const endedAgreements = await endAgreements(tx, now, partnership.id)
  const closedReviews = await closeOpenReviews(tx, now, partnership.id)
  await appendEvent(tx, now, {
    partnershipId: partnership.id,
    type: 'partnership.dissolved',
    actorId: userId,
    subject: { type: 'partnership', id: partnership.id },
    data: {
      reason: 'fewer than two partners remain',
      remainingPartners: partners.length,
      endedAgreements,
      closedReviews
    }
  })
}

/**
 * A partner withdraws their consent to an observer (SPEC §3.1: an observer sees intimate text only while every
 * partner consents; it took every partner's approval to let them in, and it takes one partner to end it). The
 * observer's access ends at once, as if they had left (`member.left`, the partner its actor, `reason`
 * `consent-withdrawn`); allowed in a dissolved partnership too, whose history they could still read. A partner
 * cannot be removed: partners leave on their own (403); a user who is no observer of it: 404.
 */
export async function removeObserver(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; userId: string; observerId: string }
): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const partnership = await lockPartnership(tx, input.partnershipId)
    if (!partnership) throw noSuchPartnership()
    const caller = await requireMembership(tx, input.partnershipId, input.userId)
    if (caller.role !== 'partner')
      throw new DomainError('FORBIDDEN', 'only a partner withdraws consent to an observer; leave with members/me')
    const target = await findCurrentMembership(tx, input.partnershipId, input.observerId)
    if (!target) throw new DomainError('NOT_FOUND', 'no such member')
    if (target.role !== 'observer')
      throw new DomainError('FORBIDDEN', 'partners cannot be removed: a partner leaves on their own')
    await leaveLocked(tx, deps.now, {
      partnership,
      membership: target,
      reason: 'partner-left',
      removedBy: input.userId
    })
  })
}
