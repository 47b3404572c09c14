import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Precondition } from '../http/etag.ts'
import { beginPartnerWrite, currentPartners } from '../partnerships/membership.service.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, VersionRow } from './agreement.sql.ts'
import { assertAppliesToPartners, beginAgreementWrite, lockVersion } from './agreement-access.service.ts'
import type { TermsContent, VersionContent } from './content.schemas.ts'
import { recordSignature } from './signature.service.ts'
import { assertOpenForProposals, contentHashOf, type VersionKind } from './version.rules.ts'

export type ProposalDeps = Pick<Deps, 'db' | 'now' | 'keys' | 'config'>

/** The partners who sign a proposal made now: at least two (a draft needs only its author). */
export async function requirePartnersToPropose(tx: DbOrTx, partnershipId: string): Promise<string[]> {
  const partners = await currentPartners(tx, partnershipId)
  if (partners.length < 2)
    throw new DomainError(
      'NOT_ENOUGH_PARTNERS',
      'a proposal needs at least two partners: invite your partner first (a draft needs only you)'
    )
  return partners
}

/** Turns a version into the open proposal: required signers are the partners now; the author's proposal is their signature. */
export async function openProposal(
  tx: DbOrTx,
  deps: ProposalDeps,
  input: {
    partnership: PartnershipRow
    agreement: AgreementRow
    version: VersionRow
    partners: string[]
    actorId: string
    counterTo?: number | undefined
  }
): Promise<{ agreement: AgreementRow; version: VersionRow }> {
  const at = deps.now()
  const version = await repo.updateVersion(tx, input.version.id, {
    status: 'proposed',
    requiredSigners: input.partners,
    proposedAt: at
  })
  const neverActive = input.agreement.activeVersion === null
  const agreement = await repo.reviseAgreement(tx, input.agreement.id, {
    openProposal: version.number,
    everProposed: true,
    updatedAt: at,
    ...(neverActive && input.agreement.lifecycle === 'draft' ? { lifecycle: 'proposed' } : {}),
    ...(neverActive && 'title' in version.content
      ? { title: version.content.title, category: version.content.category }
      : {})
  })
  await appendEvent(tx, deps.now, {
    partnershipId: input.partnership.id,
    type: 'version.proposed',
    actorId: input.actorId,
    subject: { type: 'version', id: version.id },
    data: {
      agreementId: agreement.id,
      number: version.number,
      kind: version.kind,
      basedOn: version.basedOn,
      contentHash: version.contentHash,
      ...(input.counterTo !== undefined ? { counterTo: input.counterTo } : {})
    }
  })
  await recordSignature(tx, deps, { partnershipId: input.partnership.id, version, signerId: input.actorId })
  return { agreement, version }
}

/**
 * Proposes a new agreement (version 1), or saves it as a draft only its author
 * can edit. Proposing needs at least two partners and counts as the author's
 * signature.
 */
export async function createAgreement(
  deps: ProposalDeps,
  input: { partnershipId: string; userId: string; content: TermsContent; draft: boolean }
): Promise<{ agreement: AgreementRow; version: VersionRow }> {
  return transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    const partners = input.draft
      ? await currentPartners(tx, partnership.id)
      : await requirePartnersToPropose(tx, partnership.id)
    assertAppliesToPartners(input.content, partners)
    const at = deps.now()
    let agreement = await repo.insertAgreement(tx, {
      id: newId(),
      partnershipId: partnership.id,
      title: input.content.title,
      category: input.content.category,
      lifecycle: 'draft',
      lastVersionNumber: 1,
      createdBy: input.userId,
      createdAt: at,
      updatedAt: at
    })
    const contentHash = contentHashOf({
      agreementId: agreement.id,
      number: 1,
      kind: 'terms',
      previousHash: null,
      content: input.content
    })
    let version = await repo.insertVersion(tx, {
      id: newId(),
      agreementId: agreement.id,
      number: 1,
      kind: 'terms',
      status: 'draft',
      content: input.content,
      contentHash,
      previousHash: null,
      basedOn: null,
      authorId: input.userId,
      requiredSigners: [],
      createdAt: at
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'agreement.created',
      actorId: input.userId,
      subject: { type: 'agreement', id: agreement.id },
      data: { category: input.content.category }
    })
    if (input.draft) {
      await appendEvent(tx, deps.now, {
        partnershipId: partnership.id,
        type: 'version.drafted',
        actorId: input.userId,
        subject: { type: 'version', id: version.id },
        data: { agreementId: agreement.id, number: 1 }
      })
    } else {
      ;({ agreement, version } = await openProposal(tx, deps, {
        partnership,
        agreement,
        version,
        partners,
        actorId: input.userId
      }))
    }
    return { agreement, version }
  })
}

/**
 * Proposes (or drafts) a new version based on an existing one. One open
 * proposal at a time: `counterTo` names the open proposal to supersede in the
 * same step; without it, an open proposal is a 409. If-Match on the agreement.
 */
export async function proposeVersion(
  deps: ProposalDeps,
  input: {
    partnershipId: string
    agreementId: string
    userId: string
    precondition: Precondition
    basedOn: number
    counterTo?: number | undefined
    kind: VersionKind
    content: VersionContent
    draft: boolean
  }
): Promise<{ agreement: AgreementRow; version: VersionRow }> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    input.precondition.assert(agreement.revision)
    assertOpenForProposals(agreement.lifecycle)
    const base = await repo.findVersion(tx, agreement.id, input.basedOn)
    if (!base || base.status === 'draft') {
      throw new DomainError('VALIDATION_FAILED', `basedOn must name a version of this agreement that is not a draft`, {
        errors: [{ in: 'body', path: '/basedOn', message: 'no such (non-draft) version' }]
      })
    }
    if (input.kind === 'retirement' && agreement.activeVersion === null)
      throw new DomainError('NOTHING_TO_RETIRE', 'only an agreement that has been active can be retired')
    const partners = input.draft
      ? await currentPartners(tx, partnership.id)
      : await requirePartnersToPropose(tx, partnership.id)
    assertAppliesToPartners(input.content, partners)
    const at = deps.now()
    let current = agreement
    if (input.counterTo !== undefined && agreement.openProposal !== input.counterTo) {
      throw new DomainError(
        'VERSION_NOT_OPEN',
        `counterTo must name the open proposal${agreement.openProposal === null ? ' (there is none)' : ` (${agreement.openProposal})`}`
      )
    }
    if (!input.draft && agreement.openProposal !== null) {
      if (input.counterTo === undefined)
        throw new DomainError(
          'PROPOSAL_OPEN',
          `version ${agreement.openProposal} is still open: sign, decline or withdraw it, or counter it with counterTo`
        )
      const open = await lockVersion(tx, agreement.id, agreement.openProposal)
      await repo.updateVersion(tx, open.id, { status: 'superseded', closedAt: at })
      await appendEvent(tx, deps.now, {
        partnershipId: partnership.id,
        type: 'version.superseded',
        actorId: input.userId,
        subject: { type: 'version', id: open.id },
        data: { agreementId: agreement.id, number: open.number, by: agreement.lastVersionNumber + 1, counter: true }
      })
      current = await repo.reviseAgreement(tx, agreement.id, { openProposal: null, updatedAt: at })
    }
    const number = current.lastVersionNumber + 1
    const contentHash = contentHashOf({
      agreementId: agreement.id,
      number,
      kind: input.kind,
      previousHash: base.contentHash,
      content: input.content
    })
    let version = await repo.insertVersion(tx, {
      id: newId(),
      agreementId: agreement.id,
      number,
      kind: input.kind,
      status: 'draft',
      content: input.content,
      contentHash,
      previousHash: base.contentHash,
      basedOn: base.number,
      authorId: input.userId,
      requiredSigners: [],
      createdAt: at
    })
    current = await repo.reviseAgreement(tx, agreement.id, { lastVersionNumber: number, updatedAt: at })
    if (input.draft) {
      await appendEvent(tx, deps.now, {
        partnershipId: partnership.id,
        type: 'version.drafted',
        actorId: input.userId,
        subject: { type: 'version', id: version.id },
        data: { agreementId: agreement.id, number, basedOn: base.number }
      })
    } else {
      ;({ agreement: current, version } = await openProposal(tx, deps, {
        partnership,
        agreement: current,
        version,
        partners,
        actorId: input.userId,
        counterTo: input.counterTo
      }))
    }
    return { agreement: current, version }
  })
}
