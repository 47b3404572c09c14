import { appendEvent } from '../audit/audit.service.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../http/errors.ts'
import { beginAgreementWrite, lockVersion } from './agreement.context.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, SignatureRow, VersionRow } from './agreement.sql.ts'
import { activate, recordSignature } from './signing.ts'
import { remainingSigners } from './version.rules.ts'

type SignDeps = Pick<Deps, 'db' | 'now' | 'keys' | 'config'>

/**
 * Signs a proposed version's exact text. The last required signature activates
 * it in the same transaction. Two partners signing at once are serialized by
 * the partnership lock, and the partial unique indexes would refuse a second
 * active version or a second live signature even if code failed.
 */
export async function signVersion (deps: SignDeps, input: { partnershipId: string, agreementId: string, number: number, userId: string, contentHash: string }): Promise<{ signature: SignatureRow, agreement: AgreementRow, version: VersionRow }> {
  return deps.db.transaction(async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
    let version = await lockVersion(tx, agreement.id, input.number)
    const live = await repo.listSignatures(tx, [version.id], true)
    const remaining = remainingSigners({ status: version.status, required: version.requiredSigners, signed: live.map((s) => s.signerId) }, input.userId)
    if (version.contentHash !== input.contentHash) {
      throw new DomainError('CONTENT_HASH_MISMATCH', 'the text you were shown is not this version\'s text: GET the version again and read it before signing', { extra: { contentHash: version.contentHash } })
    }
    const signature = await recordSignature(tx, deps, { partnershipId: partnership.id, version, signerId: input.userId })
    let current = agreement
    if (remaining.length === 0) {
      current = await activate(tx, deps, { partnership, agreement, version, actorId: input.userId })
      version = (await repo.findVersion(tx, agreement.id, version.number))!
    }
    return { signature, agreement: current, version }
  })
}

/**
 * Withdraws the caller's consent. On a proposed version the signature is
 * withdrawn; on the active version the agreement becomes `suspended` until a
 * new version is signed by all or it is retired. Nothing can forbid it.
 */
export async function revokeSignature (deps: Pick<Deps, 'db' | 'now'>, input: { partnershipId: string, agreementId: string, number: number, userId: string }): Promise<AgreementRow> {
  return deps.db.transaction(async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
    const version = await lockVersion(tx, agreement.id, input.number)
    const mine = (await repo.listSignatures(tx, [version.id], true)).find((s) => s.signerId === input.userId)
    if (!mine) throw new DomainError('NOT_SIGNED', 'you have no signature on this version to revoke')
    const isActive = version.status === 'active' && agreement.activeVersion === version.number
    if (version.status !== 'proposed' && !isActive) throw new DomainError('VERSION_NOT_OPEN', `version ${version.number} is ${version.status}; consent can be revoked on the proposed or the active version`)
    const at = deps.now()
    await repo.revokeSignature(tx, mine.id, at)
    await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'signature.revoked', actorId: input.userId, subject: { type: 'version', id: version.id }, data: { agreementId: agreement.id, number: version.number } })
    if (!isActive || agreement.lifecycle !== 'active') return agreement
    const suspended = await repo.updateAgreement(tx, agreement.id, { lifecycle: 'suspended', nextReviewAt: null, updatedAt: at })
    await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'agreement.suspended', actorId: input.userId, subject: { type: 'agreement', id: agreement.id }, data: { number: version.number } })
    return suspended
  })
}

async function closeProposal (deps: Pick<Deps, 'db' | 'now'>, input: { partnershipId: string, agreementId: string, number: number, userId: string }, to: 'declined' | 'withdrawn', reason: string | null): Promise<VersionRow> {
  return deps.db.transaction(async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
    const version = await lockVersion(tx, agreement.id, input.number)
    if (version.status !== 'proposed') throw new DomainError('VERSION_NOT_OPEN', `version ${version.number} is ${version.status}, not an open proposal`)
    if (to === 'withdrawn' && version.authorId !== input.userId) throw new DomainError('NOT_THE_AUTHOR', 'only the author withdraws a proposal; the others decline it')
    if (to === 'declined' && !version.requiredSigners.includes(input.userId)) throw new DomainError('NOT_A_SIGNER', 'only the partners named when it was proposed may decline it')
    const at = deps.now()
    const closed = await repo.updateVersion(tx, version.id, { status: to, closedAt: at, declineReason: reason })
    await repo.updateAgreement(tx, agreement.id, { openProposal: null, updatedAt: at })
    await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: `version.${to}`, actorId: input.userId, subject: { type: 'version', id: version.id }, data: { agreementId: agreement.id, number: version.number } })
    return closed
  })
}

/** Declines an open proposal (any of its required signers), with a reason kept on the version. */
export const declineVersion = (deps: Pick<Deps, 'db' | 'now'>, input: { partnershipId: string, agreementId: string, number: number, userId: string, reason: string }) => closeProposal(deps, input, 'declined', input.reason)

/** Withdraws an open proposal (its author only). */
export const withdrawVersion = (deps: Pick<Deps, 'db' | 'now'>, input: { partnershipId: string, agreementId: string, number: number, userId: string }) => closeProposal(deps, input, 'withdrawn', null)
