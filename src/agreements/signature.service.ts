import { appendEvent } from '../audit/append.service.ts'
import { chainEvents, type NewEvent } from '../audit/event.rules.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { pgErrorOf } from '../db/errors.ts'
import { committingWrite, transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { noSuchPartnership } from '../partnerships/membership.service.ts'
import { lockPartnership } from '../partnerships/partnership.repo.ts'
import { sealPersonalText } from '../users/personal-text.service.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, SignatureRow, VersionRow } from './agreement.sql.ts'
import { beginAgreementWrite, lockVersion, noSuchVersion } from './agreement-access.service.ts'
import * as signatureRepo from './signature.repo.ts'
import { activationOf, assertSignable, RECEIPT_TYP, receiptClaims } from './signature.rules.ts'
import { declineReasonPurpose } from './version.rules.ts'

type SignDeps = Pick<Deps, 'db' | 'now' | 'keys' | 'config'>

type SignInput = { partnershipId: string; agreementId: string; number: number; userId: string; contentHash: string }
type Signed = { signature: SignatureRow; agreement: AgreementRow; version: VersionRow }

const OPTIMISTIC_ATTEMPTS = 3

/**
 * Signs a proposed version's exact text. The last required signature activates
 * it, atomically with the signature. Two partners signing at once are
 * serialized by the partnership lock, and the partial unique indexes would
 * refuse a second active version or a second live signature even if code failed.
 *
 * The busiest write of the API, so it is optimistic: one read, then one write
 * statement that takes the partnership lock and continues the audit log from
 * the head that was read. Every change to a partnership appends to that log, so
 * if anything changed in between the log's key refuses the write and the
 * sign-off is retried from a fresh read. Anything but the plain success (a
 * refusal to explain, or contention that persists) takes the locked path, which
 * checks everything under the partnership lock, in the order every write does.
 */
export async function signVersion(deps: SignDeps, input: SignInput): Promise<Signed> {
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
    const read = await signatureRepo.readForSigning(deps.db, input)
    if (!read) break // something is missing or refused: the locked path says what, in the usual order
    let remaining: string[]
    try {
      remaining = assertSignable(read, input)
    } catch (err) {
      if (err instanceof DomainError) break // refused on a snapshot: answered under the lock, from the current state
      throw err
    }
    const plan = await planSignature(deps, read, input, remaining)
    try {
      await committingWrite(() => signatureRepo.writeSignatureGrouped(deps.db, plan.write))
      return plan.result
    } catch (err) {
      if (pgErrorOf(err)?.code !== '23505') throw err // unique violation: the partnership moved on; read again
    }
  }
  return transaction(deps.db, async (tx) => {
    const partnership = await lockPartnership(tx, input.partnershipId)
    if (!partnership) throw noSuchPartnership()
    const locked = await signatureRepo.lockVersionForSigning(tx, input)
    if (!locked) {
      // Something is missing or refused: the general checks say what, in their usual order.
      await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
      throw noSuchVersion()
    }
    const state = { ...locked, partnership }
    const plan = await planSignature(deps, state, input, assertSignable(state, input))
    await signatureRepo.writeSignature(tx, plan.write)
    return plan.result
  })
}

interface SignaturePlan {
  write: signatureRepo.SignatureWrite
  result: Signed
}

/** A signature's receipt: a compact JWS (EdDSA, the service key) over receiptClaims. */
export function signReceipt(
  deps: Pick<Deps, 'keys' | 'config'>,
  input: { partnershipId: string; version: VersionRow; signerId: string; signedAt: Date }
): Promise<string> {
  return deps.keys.signJws(receiptClaims({ issuer: deps.config.publicUrl, ...input }), RECEIPT_TYP)
}

/** The signature with its receipt and events and, for the last signer, the activation: everything one statement writes. */
async function planSignature(
  deps: SignDeps,
  read: signatureRepo.ForSigning,
  input: SignInput,
  remaining: string[]
): Promise<SignaturePlan> {
  const { partnership, agreement, version, previousActiveId } = read
  const at = deps.now()
  const signature: SignatureRow = {
    id: newId(),
    versionId: version.id,
    signerId: input.userId,
    contentHash: version.contentHash,
    signedAt: at,
    receipt: await signReceipt(deps, { partnershipId: partnership.id, version, signerId: input.userId, signedAt: at }),
    revokedAt: null
  }
  const event = (type: string, subject: { type: string; id: string }, data: Record<string, unknown>): NewEvent => ({
    partnershipId: partnership.id,
    type,
    actorId: input.userId,
    subject,
    data
  })
  const events = [
    event(
      'version.signed',
      { type: 'version', id: version.id },
      { agreementId: agreement.id, number: version.number, contentHash: version.contentHash }
    )
  ]
  if (remaining.length > 0) {
    return {
      write: {
        partnershipId: partnership.id,
        agreementId: agreement.id,
        signature,
        events: chainEvents(read.last, events, at)
      },
      result: { signature, agreement: { ...agreement, revision: agreement.revision + 1 }, version }
    }
  }
  const activation = activationOf({ partnership, agreement, version, previousActiveId, at })
  if (previousActiveId !== null)
    events.push(
      event(
        'version.superseded',
        { type: 'version', id: previousActiveId },
        { agreementId: agreement.id, number: agreement.activeVersion, by: version.number }
      )
    )
  events.push(
    event(
      'version.activated',
      { type: 'version', id: version.id },
      { agreementId: agreement.id, number: version.number, contentHash: version.contentHash }
    )
  )
  if (activation.agreement.lifecycle === 'retired')
    events.push(event('agreement.retired', { type: 'agreement', id: agreement.id }, { number: version.number }))
  return {
    write: {
      partnershipId: partnership.id,
      agreementId: agreement.id,
      signature,
      events: chainEvents(read.last, events, at),
      activation
    },
    result: { signature, agreement: activation.agreement, version: { ...version, status: 'active', activatedAt: at } }
  }
}

/** Records a signature with its receipt and its `version.signed` event, inside the caller's transaction (a proposal's author). */
export async function recordSignature(
  tx: DbOrTx,
  deps: Pick<Deps, 'keys' | 'now' | 'config'>,
  input: { partnershipId: string; version: VersionRow; signerId: string }
): Promise<SignatureRow> {
  const signedAt = deps.now()
  const receipt = await signReceipt(deps, { ...input, signedAt })
  const signature = await repo.insertSignature(tx, {
    id: newId(),
    versionId: input.version.id,
    signerId: input.signerId,
    contentHash: input.version.contentHash,
    signedAt,
    receipt
  })
  await appendEvent(tx, deps.now, {
    partnershipId: input.partnershipId,
    type: 'version.signed',
    actorId: input.signerId,
    subject: { type: 'version', id: input.version.id },
    data: {
      agreementId: input.version.agreementId,
      number: input.version.number,
      contentHash: input.version.contentHash
    }
  })
  return signature
}

/**
 * Withdraws the caller's consent. On a proposed version the signature is
 * withdrawn; on the active version the agreement becomes `suspended` until a
 * new version is signed by all or it is retired. Nothing can forbid it.
 */
export async function revokeSignature(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
): Promise<AgreementRow> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    const version = await lockVersion(tx, agreement.id, input.number)
    const mine = (await repo.listSignatures(tx, [version.id], true)).find((s) => s.signerId === input.userId)
    if (!mine) throw new DomainError('NOT_SIGNED', 'you have no signature on this version to revoke')
    const isActive = version.status === 'active' && agreement.activeVersion === version.number
    if (version.status !== 'proposed' && !isActive)
      throw new DomainError(
        'VERSION_NOT_OPEN',
        `version ${version.number} is ${version.status}; consent can be revoked on the proposed or the active version`
      )
    const at = deps.now()
    await repo.revokeSignature(tx, mine.id, at)
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'signature.revoked',
      actorId: input.userId,
      subject: { type: 'version', id: version.id },
      data: { agreementId: agreement.id, number: version.number }
    })
    // The signature leaves what GET agreement shows, so the revision moves even when nothing else does.
    if (!isActive || agreement.lifecycle !== 'active') return repo.reviseAgreement(tx, agreement.id, {})
    const suspended = await repo.reviseAgreement(tx, agreement.id, {
      lifecycle: 'suspended',
      nextReviewAt: null,
      updatedAt: at
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'agreement.suspended',
      actorId: input.userId,
      subject: { type: 'agreement', id: agreement.id },
      data: { number: version.number }
    })
    return suspended
  })
}

async function closeProposal(
  deps: Pick<Deps, 'db' | 'now' | 'kek'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string },
  to: 'declined' | 'withdrawn',
  reason: string | null
): Promise<VersionRow> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    const version = await lockVersion(tx, agreement.id, input.number)
    if (version.status !== 'proposed')
      throw new DomainError('VERSION_NOT_OPEN', `version ${version.number} is ${version.status}, not an open proposal`)
    if (to === 'withdrawn' && version.authorId !== input.userId)
      throw new DomainError('NOT_THE_AUTHOR', 'only the author withdraws a proposal; the others decline it')
    if (to === 'declined' && !version.requiredSigners.includes(input.userId))
      throw new DomainError('NOT_A_SIGNER', 'only the partners named when it was proposed may decline it')
    const at = deps.now()
    const closed = await repo.updateVersion(tx, version.id, {
      status: to,
      closedAt: at,
      ...(reason === null
        ? {}
        : {
            declineReason: await sealPersonalText(deps, tx, input.userId, reason, declineReasonPurpose(version.id)),
            declinedBy: input.userId
          })
    })
    await repo.reviseAgreement(tx, agreement.id, { openProposal: null, updatedAt: at })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: `version.${to}`,
      actorId: input.userId,
      subject: { type: 'version', id: version.id },
      data: { agreementId: agreement.id, number: version.number }
    })
    return closed
  })
}

/** Declines an open proposal (any of its required signers), with a reason kept on the version. */
export const declineVersion = (
  deps: Pick<Deps, 'db' | 'now' | 'kek'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string; reason: string }
) => closeProposal(deps, input, 'declined', input.reason)

/** Withdraws an open proposal (its author only). */
export const withdrawVersion = (
  deps: Pick<Deps, 'db' | 'now' | 'kek'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
) => closeProposal(deps, input, 'withdrawn', null)
