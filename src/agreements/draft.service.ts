import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Precondition } from '../http/etag.ts'
import { currentPartners } from '../partnerships/membership.service.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, VersionRow } from './agreement.sql.ts'
import { assertAppliesToPartners, beginAgreementWrite, lockVersion } from './agreement-access.service.ts'
import type { TermsContent } from './content.schemas.ts'
import { openProposal, type ProposalDeps, requirePartnersToPropose } from './proposal.service.ts'
import { assertOpenForProposals, contentHashOf } from './version.rules.ts'

// Drafts: versions only their author sees change, edits and proposes (proposing is proposal.service's openProposal).

async function beginDraftWrite(
  tx: DbOrTx,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
) {
  const ctx = await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
  const version = await lockVersion(tx, ctx.agreement.id, input.number)
  if (version.status !== 'draft')
    throw new DomainError('VERSION_NOT_DRAFT', `version ${version.number} is ${version.status}, and immutable`)
  if (version.authorId !== input.userId)
    throw new DomainError('NOT_THE_AUTHOR', 'only its author may change or propose a draft')
  return { ...ctx, version }
}

/** Replaces a draft's content (its author only; If-Match on the version). */
export async function updateDraft(
  deps: Pick<Deps, 'db' | 'now'>,
  input: {
    partnershipId: string
    agreementId: string
    number: number
    userId: string
    precondition: Precondition
    content: TermsContent
  }
): Promise<VersionRow> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement, version } = await beginDraftWrite(tx, input)
    input.precondition.assert(version.revision)
    assertAppliesToPartners(input.content, await currentPartners(tx, partnership.id))
    const contentHash = contentHashOf({
      agreementId: version.agreementId,
      number: version.number,
      kind: 'terms',
      previousHash: version.previousHash,
      content: input.content
    })
    const updated = await repo.updateVersion(tx, version.id, {
      content: input.content,
      contentHash,
      revision: version.revision + 1
    })
    // A never-proposed agreement is known by its draft: keep its title and category in step.
    if (agreement.lifecycle === 'draft')
      await repo.reviseAgreement(tx, agreement.id, {
        title: input.content.title,
        category: input.content.category,
        updatedAt: deps.now()
      })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'version.drafted',
      actorId: input.userId,
      subject: { type: 'version', id: version.id },
      data: { agreementId: version.agreementId, number: version.number, edit: updated.revision }
    })
    return updated
  })
}

/** Discards a draft (its author only). An agreement left with no version at all goes with it. */
export async function deleteDraft(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const { partnership, agreement, version } = await beginDraftWrite(tx, input)
    await discard(tx, deps.now, {
      partnershipId: partnership.id,
      agreementId: agreement.id,
      version,
      actorId: input.userId
    })
  })
}

async function discard(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; agreementId: string; version: VersionRow; actorId: string; reason?: string }
): Promise<void> {
  await repo.deleteVersion(tx, input.version.id)
  const remaining = await repo.listVersions(tx, input.agreementId, 0, 1)
  if (remaining.length === 0) await repo.deleteAgreement(tx, input.agreementId)
  else await repo.reviseAgreement(tx, input.agreementId, { updatedAt: now() })
  await appendEvent(tx, now, {
    partnershipId: input.partnershipId,
    type: 'version.deleted',
    actorId: input.actorId,
    subject: { type: 'version', id: input.version.id },
    data: {
      agreementId: input.agreementId,
      number: input.version.number,
      agreementDeleted: remaining.length === 0,
      ...(input.reason === undefined ? {} : { reason: input.reason })
    }
  })
}

/**
 * A person is erased (their transaction holds the partnership lock): the drafts they wrote and never
 * proposed are texts only they wrote, so they are discarded as their author would (`version.deleted`,
 * reason `erased`). Proposed and signed versions stay: they belong to the partnership.
 */
export async function discardDraftsOf(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; userId: string }
): Promise<number> {
  const drafts = await repo.lockDraftsOf(tx, input.partnershipId, input.userId)
  for (const { agreementId, version } of drafts)
    await discard(tx, now, {
      partnershipId: input.partnershipId,
      agreementId,
      version,
      actorId: input.userId,
      reason: 'erased'
    })
  return drafts.length
}

/** Proposes a draft as it stands (its author only), under the same rules as any proposal. */
export async function proposeDraft(
  deps: ProposalDeps,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
): Promise<{ agreement: AgreementRow; version: VersionRow }> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement, version } = await beginDraftWrite(tx, input)
    assertOpenForProposals(agreement.lifecycle)
    if (agreement.openProposal !== null)
      throw new DomainError('PROPOSAL_OPEN', `version ${agreement.openProposal} is still open`)
    const partners = await requirePartnersToPropose(tx, partnership.id)
    assertAppliesToPartners(version.content, partners)
    return openProposal(tx, deps, { partnership, agreement, version, partners, actorId: input.userId })
  })
}
