import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import * as repo from './agreement.repo.ts'

/**
 * When a partner joins or leaves, every open proposal was addressed to a set of
 * signers that no longer matches the partnership: each is voided, in the
 * transaction that changes the membership. (Observers do not sign: their
 * comings and goings void nothing.)
 */
export async function voidOpenProposals(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; actorId: string; reason: 'partner-joined' | 'partner-left' }
): Promise<void> {
  const at = now()
  for (const version of await repo.listOpenProposals(tx, input.partnershipId)) {
    await repo.updateVersion(tx, version.id, { status: 'voided', closedAt: at })
    await repo.reviseAgreement(tx, version.agreementId, { openProposal: null, updatedAt: at })
    await appendEvent(tx, now, {
      partnershipId: input.partnershipId,
      type: 'version.voided',
      actorId: input.actorId,
      subject: { type: 'version', id: version.id },
      data: { agreementId: version.agreementId, number: version.number, reason: input.reason }
    })
  }
}

/** A dissolved partnership's agreements end: no more reviews, nothing binds. Returns the ids that ended. */
export async function endAgreements(tx: DbOrTx, now: () => Date, partnershipId: string): Promise<string[]> {
  const at = now()
  const ended: string[] = []
  for (const agreement of await repo.listAgreementsOfPartnership(tx, partnershipId)) {
    if (agreement.lifecycle === 'retired' || agreement.lifecycle === 'ended') continue
    await repo.reviseAgreement(tx, agreement.id, {
      lifecycle: 'ended',
      nextReviewAt: null,
      revisionRequested: false,
      updatedAt: at
    })
    ended.push(agreement.id)
  }
  return ended
}
