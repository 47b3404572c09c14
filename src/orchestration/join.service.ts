import { voidOpenProposals } from '../agreements/partner-change.service.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { findInvitationByToken, redeemInvitation } from '../invitations/invitation.service.ts'
import { admitMember } from '../partnerships/membership.service.ts'
import * as partnershipRepo from '../partnerships/partnership.repo.ts'
import type { Role } from '../partnerships/partnership.sql.ts'
import { assertNotErased } from '../users/user.service.ts'

/**
 * Joins a partnership with an invitation token, in one transaction under the
 * partnership lock: the invitation is redeemed (every rule of invitations),
 * the member admitted (`member.joined`), and, for a partner, every open
 * proposal voided (its signers no longer match the partnership). Unknown
 * token: 404.
 */
export async function joinPartnership(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { token: string; userId: string }
): Promise<{ partnershipId: string; role: Role }> {
  const found = await findInvitationByToken(deps, input.token)
  return transaction(deps.db, async (tx) => {
    const partnership = (await partnershipRepo.lockPartnership(tx, found.partnershipId))!
    await assertNotErased(tx, input.userId)
    const members = await partnershipRepo.listCurrentMembers(tx, [partnership.id])
    const role = await redeemInvitation(tx, deps.now(), {
      partnership,
      members,
      invitationId: found.id,
      userId: input.userId
    })
    await admitMember(tx, deps.now, {
      partnershipId: partnership.id,
      userId: input.userId,
      role,
      invitationId: found.id
    })
    if (role === 'partner')
      await voidOpenProposals(tx, deps.now, {
        partnershipId: partnership.id,
        actorId: input.userId,
        reason: 'partner-joined'
      })
    return { partnershipId: partnership.id, role }
  })
}
