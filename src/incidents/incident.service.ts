import * as agreementRepo from '../agreements/agreement.repo.ts'
import type { AgreementRow, VersionRow } from '../agreements/agreement.sql.ts'
import { beginAgreementWrite, readAgreement } from '../agreements/agreement-access.service.ts'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { currentPartners } from '../partnerships/membership.service.ts'
import { sealOptionalText, sealPersonalText } from '../users/personal-text.service.ts'
import * as repo from './incident.repo.ts'
import {
  assertAnswerable,
  assertOccurredWithin,
  assertResolvable,
  assertSubjectBound,
  clauseOf,
  consequenceAt,
  type IncidentAnswer,
  incidentSummary
} from './incident.rules.ts'
import {
  type AppreciationView,
  answerNotePurpose,
  appreciationPurpose,
  descriptionPurpose,
  type IncidentView,
  openAppreciations,
  openIncidents,
  resolutionNotePurpose
} from './incident.texts.ts'

type Use = Pick<Deps, 'db' | 'now' | 'kek'>
type Read = Pick<Deps, 'db' | 'kek'>
interface IncidentTarget {
  partnershipId: string
  agreementId: string
  incidentId: string
  userId: string
}

const noSuchIncident = (): DomainError => new DomainError('NOT_FOUND', 'no such incident')

/** The active version of an agreement that is active (in revision included): what incidents and appreciations are about. */
async function activeVersionOf(tx: DbOrTx, agreement: AgreementRow): Promise<VersionRow> {
  const version =
    agreement.lifecycle === 'active' && agreement.activeVersion !== null
      ? await agreementRepo.findVersion(tx, agreement.id, agreement.activeVersion)
      : undefined
  if (!version?.activatedAt)
    throw new DomainError(
      'AGREEMENT_NOT_ACTIVE',
      `the agreement is ${agreement.lifecycle}: incidents and appreciations are about the clauses of an active agreement`
    )
  return version
}

/**
 * Any partner reports that a clause of the active version was crossed, by a
 * partner that clause binds (themselves included). The clause and its agreed
 * consequences are kept with the incident as that version wrote them.
 */
export async function reportIncident(
  deps: Use,
  input: {
    partnershipId: string
    agreementId: string
    userId: string
    clauseKey: string
    subjectId: string
    occurredAt: Date
    description: string
  }
): Promise<IncidentView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    const version = await activeVersionOf(tx, agreement)
    const { appliesTo, ...clause } = clauseOf(version.content, input.clauseKey)
    assertSubjectBound(appliesTo, await currentPartners(tx, partnership.id), input.subjectId)
    const now = deps.now()
    assertOccurredWithin(input.occurredAt, version.activatedAt!, now)
    const id = newId()
    const incident = await repo.insertIncident(tx, {
      id,
      partnershipId: partnership.id,
      agreementId: agreement.id,
      versionNumber: version.number,
      clauseKey: clause.key,
      clause,
      subjectId: input.subjectId,
      reporterId: input.userId,
      status: 'reported',
      occurredAt: input.occurredAt,
      description: await sealPersonalText(deps, tx, input.userId, input.description, descriptionPurpose(id)),
      reportedAt: now,
      updatedAt: now
    })
    await agreementRepo.reviseAgreement(tx, agreement.id, {
      ...incidentSummary(agreement, { reported: input.occurredAt }),
      updatedAt: now
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'incident.reported',
      actorId: input.userId,
      subject: { type: 'incident', id: incident.id },
      data: {
        agreementId: agreement.id,
        versionNumber: version.number,
        clauseKey: clause.key,
        subjectId: input.subjectId,
        status: 'reported'
      }
    })
    return (await openIncidents(deps, tx, [incident]))[0]!
  })
}

/** Opens a write on an incident: the agreement write's locks and checks, then the incident's row lock (404 if absent). */
async function beginIncidentWrite(tx: DbOrTx, input: IncidentTarget) {
  const { partnership, agreement } = await beginAgreementWrite(tx, input.partnershipId, input.agreementId, input.userId)
  const found = await repo.findIncident(tx, agreement.id, input.incidentId, true)
  if (!found) throw noSuchIncident()
  return { partnership, agreement, found }
}

/** The subject acknowledges (a note optional) or disputes (a note required) a reported incident. */
export async function answerIncident(
  deps: Use,
  input: IncidentTarget & { answer: IncidentAnswer; note: string | null }
): Promise<IncidentView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement, found } = await beginIncidentWrite(tx, input)
    assertAnswerable(found, input.userId)
    const now = deps.now()
    const incident = await repo.updateIncident(tx, found.id, {
      status: input.answer,
      answer: input.answer,
      answerNote: await sealOptionalText(deps, tx, input.userId, input.note, answerNotePurpose(found.id)),
      answeredAt: now,
      updatedAt: now
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: input.answer === 'acknowledged' ? 'incident.acknowledged' : 'incident.disputed',
      actorId: input.userId,
      subject: { type: 'incident', id: incident.id },
      data: { agreementId: agreement.id, clauseKey: incident.clauseKey, status: incident.status }
    })
    return (await openIncidents(deps, tx, [incident]))[0]!
  })
}

/**
 * Any partner resolves an answered incident, naming the agreed consequence that
 * was applied (its index in the clause as the incident's version wrote it) or none.
 */
export async function resolveIncident(
  deps: Use,
  input: IncidentTarget & { consequenceIndex: number | null; note: string }
): Promise<IncidentView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement, found } = await beginIncidentWrite(tx, input)
    assertResolvable(found, await currentPartners(tx, partnership.id))
    consequenceAt(found.clause, input.consequenceIndex)
    const now = deps.now()
    const incident = await repo.updateIncident(tx, found.id, {
      status: 'resolved',
      consequenceIndex: input.consequenceIndex,
      resolutionNote: await sealPersonalText(deps, tx, input.userId, input.note, resolutionNotePurpose(found.id)),
      resolvedBy: input.userId,
      resolvedAt: now,
      updatedAt: now
    })
    await agreementRepo.reviseAgreement(tx, agreement.id, {
      ...incidentSummary(agreement, { resolved: true }),
      updatedAt: now
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'incident.resolved',
      actorId: input.userId,
      subject: { type: 'incident', id: incident.id },
      data: {
        agreementId: agreement.id,
        clauseKey: incident.clauseKey,
        consequenceIndex: input.consequenceIndex,
        status: 'resolved'
      }
    })
    return (await openIncidents(deps, tx, [incident]))[0]!
  })
}

export async function getIncident(deps: Read, input: IncidentTarget): Promise<IncidentView> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const incident = await repo.findIncident(deps.db, agreement.id, input.incidentId)
  if (!incident) throw noSuchIncident()
  return (await openIncidents(deps, deps.db, [incident]))[0]!
}

export async function listIncidents(
  deps: Read,
  input: {
    partnershipId: string
    agreementId: string
    userId: string
    status?: string | undefined
    clauseKey?: string | undefined
    afterId: string | null
    limit: number
  }
): Promise<IncidentView[]> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const rows = await repo.listIncidents(
    deps.db,
    agreement.id,
    { status: input.status, clauseKey: input.clauseKey },
    input.afterId,
    input.limit
  )
  return openIncidents(deps, deps.db, rows)
}

/** Any partner notes a kept commitment on an active agreement, optionally naming the clause. */
export async function addAppreciation(
  deps: Use,
  input: { partnershipId: string; agreementId: string; userId: string; text: string; clauseKey: string | null }
): Promise<AppreciationView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    const version = await activeVersionOf(tx, agreement)
    if (input.clauseKey !== null) clauseOf(version.content, input.clauseKey)
    const id = newId()
    const appreciation = await repo.insertAppreciation(tx, {
      id,
      partnershipId: partnership.id,
      agreementId: agreement.id,
      versionNumber: version.number,
      clauseKey: input.clauseKey,
      authorId: input.userId,
      text: await sealPersonalText(deps, tx, input.userId, input.text, appreciationPurpose(id)),
      createdAt: deps.now()
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'appreciation.added',
      actorId: input.userId,
      subject: { type: 'appreciation', id: appreciation.id },
      data: { agreementId: agreement.id, versionNumber: version.number, clauseKey: input.clauseKey }
    })
    return (await openAppreciations(deps, tx, [appreciation]))[0]!
  })
}

export async function listAppreciations(
  deps: Read,
  input: { partnershipId: string; agreementId: string; userId: string; afterId: string | null; limit: number }
): Promise<AppreciationView[]> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  return openAppreciations(
    deps,
    deps.db,
    await repo.listAppreciations(deps.db, agreement.id, input.afterId, input.limit)
  )
}

export async function getAppreciation(
  deps: Read,
  input: { partnershipId: string; agreementId: string; appreciationId: string; userId: string }
): Promise<AppreciationView> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const appreciation = await repo.findAppreciation(deps.db, agreement.id, input.appreciationId)
  if (!appreciation) throw new DomainError('NOT_FOUND', 'no such appreciation')
  return (await openAppreciations(deps, deps.db, [appreciation]))[0]!
}
