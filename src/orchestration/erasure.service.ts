import { randomUUID } from 'node:crypto'
import { discardDraftsOf } from '../agreements/draft.service.ts'
import { revokeCalendarTokensOf } from '../calendar/calendar.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Precondition } from '../http/etag.ts'
import { deleteKeysOf } from '../idempotency/idempotency.repo.ts'
import { requireMembership } from '../partnerships/membership.service.ts'
import { listPartnershipsOf, lockPartnership } from '../partnerships/partnership.repo.ts'
import { deleteDataKey } from '../users/data-key.repo.ts'
import { forgetDataKey } from '../users/personal-text.service.ts'
import { lockUserForErasure, pseudonymizeUser, recordErasedIdentity } from '../users/user.repo.ts'
import { erasedAccount, erasedIdentityHash } from '../users/user.service.ts'
import { deleteWebhooksOf, partnershipsWithWebhooksOf } from '../webhooks/webhook.service.ts'
import { leaveLocked } from './leave.service.ts'

/** What an erased row says instead of the person: no name, no zone, an identity nobody holds. */
export const ERASED_ISSUER = 'urn:accord:erased'
export const ERASED_DISPLAY_NAME = 'Erased member'

/**
 * DELETE /v1/me (SPEC §3.8), in one transaction: the person leaves every partnership as DELETE …/members/me
 * would (proposals voided, a partnership left with one partner dissolved), their drafts are discarded, their
 * webhooks (in every partnership, left ones included), invitations and calendar feeds stop working, their
 * recorded idempotent responses are deleted, and their data key is destroyed, which shreds every text only
 * they wrote (here and in every backup). The row stays, because the partnerships' records point to it, but
 * with a random identity, no name and no zone: a later login with the same account is a new person, and a
 * token issued before now is refused. Every change appends its event; no event holds a name or a text, so
 * every chain still verifies.
 */
export async function eraseUser(
  deps: Pick<Deps, 'db' | 'now' | 'serverSecrets'>,
  input: { userId: string; issuer: string; subject: string; precondition: Precondition }
): Promise<void> {
  let shredded: string | undefined
  await transaction(deps.db, async (tx) => {
    const user = await lockUserForErasure(tx, input.userId)
    if (!user) throw new DomainError('NOT_FOUND', 'no such user')
    if (user.erasedAt !== null) throw erasedAccount()
    input.precondition.assert(user.revision)
    const at = deps.now()
    // Every partnership they are in, and those they left with webhooks of theirs still live (left before a
    // leave deleted them), locked in id order like every multi-partnership write.
    const current = new Set(await currentPartnerships(tx, user.id))
    const touched = [...new Set([...current, ...(await partnershipsWithWebhooksOf(tx, user.id))])].sort()
    for (const partnershipId of touched) {
      const partnership = await lockPartnership(tx, partnershipId)
      if (!partnership) continue
      if (current.has(partnershipId)) {
        const membership = await requireMembership(tx, partnershipId, user.id)
        await discardDraftsOf(tx, deps.now, { partnershipId, userId: user.id })
        await leaveLocked(tx, deps.now, { partnership, membership, reason: 'erased' })
      } else {
        await deleteWebhooksOf(tx, deps.now, { partnershipId, userId: user.id, reason: 'erased' })
      }
    }
    await revokeCalendarTokensOf(tx, deps.now, user.id)
    await deleteKeysOf(tx, user.id)
    shredded = await deleteDataKey(tx, user.id)
    await recordErasedIdentity(tx, erasedIdentityHash(deps.serverSecrets.identity, input.issuer, input.subject), at)
    await pseudonymizeUser(
      tx,
      user.id,
      { issuer: ERASED_ISSUER, subject: randomUUID(), displayName: ERASED_DISPLAY_NAME, timezone: 'UTC' },
      at
    )
  })
  if (shredded !== undefined) forgetDataKey(shredded)
}

async function currentPartnerships(tx: DbOrTx, userId: string): Promise<string[]> {
  const ids: string[] = []
  for (let after: string | null = null; ; ) {
    const page = await listPartnershipsOf(tx, userId, after, 100)
    ids.push(...page.map((p) => p.id))
    if (page.length < 100) return ids
    after = page.at(-1)!.id
  }
}
