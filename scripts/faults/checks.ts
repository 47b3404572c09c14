// The invariants, op by op: an acknowledged write is present after recovery (its resource answers,
// and its event is in the chain), and no write ran twice under one key (its tag — a name, a title,
// a note, an expiry — is found once). Plus what the state must say about itself whatever the client saw.
import type { Event } from './chain.ts'
import { firstAck, type Op } from './journal.ts'
import { type Tally, violate } from './tally.ts'
import type { View } from './view.ts'

const who = (op: Op) => `${op.kind} by ${op.actor.sub} (cycle ${op.cycle}, key ${op.key ?? '—'})`
/** The story of an op's attempts, for a violation's text: status (or error), problem code, replayed, phase, ms. */
export const attemptsOf = (op: Op): string =>
  op.attempts
    .map(
      (a) =>
        `${a.phase}:${a.status ?? a.error}${a.code ? `/${a.code}` : ''}${a.replayed ? '/replayed' : ''}@${Math.round(a.ms)}ms`
    )
    .join(' → ')
const count = (events: Event[], match: (e: Event) => boolean) => events.filter(match).length

/** Checks one op of the journal: presence if acknowledged, at most once in any case. */
/** Answers that do not say nothing changed: the outcome is unknown, or the work was done and its answer lost. */
const NOT_A_FAILURE = new Set(['outcome-unknown', 'saved-answer-lost', 'idempotent-request-done'])

export async function checkOp(view: View, tally: Tally, op: Op): Promise<void> {
  const ack = firstAck(op)
  if (ack) tally.acknowledgedWrites++
  const lost = (why: string) =>
    violate(tally, 'lostWrites', `${who(op)} was acknowledged (${ack!.status}) but ${why}; attempts ${attemptsOf(op)}`)
  const twice = (n: number, what: string) => {
    if (n > 1)
      violate(tally, 'idempotencyViolations', `${who(op)}: ${n} ${what} under one key; attempts ${attemptsOf(op)}`)
  }
  const pid =
    op.ctx.partnershipId ?? (op.kind === 'partnership.create' ? (ack?.json.id as string | undefined) : undefined)
  if (!pid) return // a create that never got an id: only the creator's list can tell (below)
  const events = await view.events(pid)
  if (!events) {
    if (ack) lost(`partnership ${pid} cannot be read back`)
    return
  }
  const aid = op.ctx.agreementId
  const me = op.actor.id
  // Never acknowledged, yet every attempt was answered (none cut by a kill), and no answer said the outcome was
  // unknown (a commit whose connection was lost) or that the work was done (its answer lost): if its work shows
  // up, a request that "failed" did it (SPEC §1.5: a request that failed changed nothing).
  const answeredOnly =
    !ack && op.attempts.length > 0 && op.attempts.every((a) => a.status !== null && !NOT_A_FAILURE.has(a.code ?? ''))
  const applied = (present: boolean) => {
    if (answeredOnly && present)
      violate(
        tally,
        'failedButApplied',
        `${who(op)} was answered ${[...new Set(op.attempts.map((a) => `${a.status}${a.code ? ` ${a.code}` : ''}`))].join(', ')} and never 2xx, yet its work is there; attempts ${attemptsOf(op)}`
      )
  }
  switch (op.kind) {
    case 'partnership.create': {
      if (ack && count(events, (e) => e.type === 'partnership.created' && e.data.name === op.tag) !== 1)
        lost('its partnership.created event is missing')
      if (ack && (await view.get(`/v1/partnerships/${pid}`, op.actor)).status !== 200)
        lost(`GET /v1/partnerships/${pid} does not answer 200`)
      break
    }
    case 'partnership.rename': {
      const n = count(events, (e) => e.type === 'partnership.updated' && e.data.name === op.tag)
      applied(n > 0)
      if (ack && n !== 1) lost(`no partnership.updated event names "${op.tag}"`)
      break
    }
    case 'invitation.create': {
      const n = count(events, (e) => e.type === 'invitation.created' && e.data.expiresAt === op.tag)
      twice(n, 'invitations')
      applied(n > 0)
      if (!ack) break
      if (count(events, (e) => e.type === 'invitation.created' && e.subject.id === ack.json.id) !== 1)
        lost('its invitation.created event is missing')
      if ((await view.get(`/v1/partnerships/${pid}/invitations/${ack.json.id}`, view.readerOf(pid)!)).status !== 200)
        lost('GET of the invitation does not answer 200')
      break
    }
    case 'invitation.approve': {
      const n = count(
        events,
        (e) => e.type === 'invitation.approved' && e.actorId === me && e.subject.id === op.ctx.invitationId
      )
      twice(n, 'approvals')
      applied(n > 0)
      if (ack && n === 0) lost('its invitation.approved event is missing')
      break
    }
    case 'invitation.accept': {
      const n = count(events, (e) => e.type === 'member.joined' && e.actorId === me)
      twice(n, 'joins')
      applied(n > 0)
      if (
        ack &&
        count(
          events,
          (e) => e.type === 'member.joined' && e.actorId === me && e.data.invitationId === op.ctx.invitationId
        ) === 0
      )
        lost('its member.joined event is missing')
      break
    }
    case 'member.leave': {
      applied(count(events, (e) => e.type === 'member.left' && e.actorId === me) > 0)
      if (!ack) break
      if (count(events, (e) => e.type === 'member.left' && e.actorId === me) !== 1)
        lost('its member.left event is missing')
      const members = await view.get(`/v1/partnerships/${pid}/members`, view.readerOf(pid)!)
      if (members.status === 200 && (members.json.items as Array<{ userId: string }>).some((m) => m.userId === me))
        lost('the member is still listed')
      break
    }
    case 'agreement.create': {
      const agreements = await view.agreements(pid)
      const copies = agreements?.filter((a) => a.title === op.tag).length ?? 0
      twice(copies, 'agreements')
      applied(copies > 0)
      if (!ack) break
      const hash = ack.json.proposal?.contentHash ?? ack.json.active?.contentHash
      const versions = await view.versions(pid, ack.json.id)
      if (!versions?.some((v) => v.number === 1 && v.contentHash === hash))
        lost('version 1 with its content hash is not there')
      if (count(events, (e) => e.type === 'agreement.created' && e.subject.id === ack.json.id) !== 1)
        lost('its agreement.created event is missing')
      break
    }
    case 'version.propose': {
      const versions = await view.versions(pid, aid!)
      const copies = versions?.filter((v) => v.content?.note === op.tag).length ?? 0
      twice(copies, 'versions')
      applied(copies > 0)
      if (!ack) break
      if (!versions?.some((v) => v.number === ack.json.number && v.contentHash === ack.json.contentHash))
        lost(`version ${ack.json.number} with its content hash is not there`)
      if (
        count(
          events,
          (e) => e.type === 'version.proposed' && e.data.agreementId === aid && e.data.number === ack.json.number
        ) !== 1
      )
        lost('its version.proposed event is missing')
      break
    }
    case 'signature.create': {
      const n = count(
        events,
        (e) =>
          e.type === 'version.signed' &&
          e.actorId === me &&
          e.data.agreementId === aid &&
          e.data.number === op.ctx.number
      )
      twice(n, 'signatures')
      applied(n > 0)
      if (!ack) break
      if (n === 0) lost('its version.signed event is missing')
      const versions = await view.versions(pid, aid!)
      const version = versions?.find((v) => v.number === op.ctx.number)
      if (!version?.signatures.some((s: { signerId: string }) => s.signerId === me))
        lost('the version does not list the signature')
      if (
        ack.json.versionStatus === 'active' &&
        count(
          events,
          (e) => e.type === 'version.activated' && e.data.agreementId === aid && e.data.number === op.ctx.number
        ) === 0
      )
        lost('it answered "active" and there is no version.activated event')
      break
    }
    case 'review.open': {
      if (!ack) break
      if (count(events, (e) => e.type === 'review.opened' && e.subject.id === ack.json.id) !== 1)
        lost('its review.opened event is missing')
      if (
        (await view.get(`/v1/partnerships/${pid}/agreements/${aid}/reviews/${ack.json.id}`, view.readerOf(pid)!))
          .status !== 200
      )
        lost('GET of the review does not answer 200')
      break
    }
    case 'review.respond': {
      const review = await view.get(
        `/v1/partnerships/${pid}/agreements/${aid}/reviews/${op.ctx.reviewId}`,
        view.readerOf(pid)!
      )
      const mine = (review.json?.responses as Array<{ userId: string; note: string | null }> | undefined)?.find(
        (r) => r.userId === me
      )
      applied(mine?.note === op.tag)
      if (!ack) break
      if (
        count(events, (e) => e.type === 'review.responded' && e.actorId === me && e.subject.id === op.ctx.reviewId) ===
        0
      )
        lost('its review.responded event is missing')
      if (mine?.note !== op.tag) lost(`the review shows note ${JSON.stringify(mine?.note ?? null)}`)
      break
    }
  }
}

/** A create lane's user: every partnership they hold, counted by the name it was created with. */
export async function checkCreatorCopies(view: View, tally: Tally, ops: readonly Op[]): Promise<void> {
  for (const op of ops) {
    if (op.kind !== 'partnership.create' || op.key === null) continue
    const mine = await view.partnershipsOf(op.actor)
    if (!mine) continue
    const ackId = firstAck(op)?.json.id as string | undefined
    const copies = mine.filter((p) => p.name === op.tag || (p.id === ackId && p.name !== op.tag)).length
    if (
      !ackId &&
      copies > 0 &&
      op.attempts.length > 0 &&
      op.attempts.every((a) => a.status !== null && !NOT_A_FAILURE.has(a.code ?? ''))
    ) {
      violate(
        tally,
        'failedButApplied',
        `partnership.create by ${op.actor.sub} (cycle ${op.cycle}, key ${op.key}) was never answered 2xx, yet ${op.tag} exists; attempts ${attemptsOf(op)}`
      )
    }
    if (copies > 1)
      violate(
        tally,
        'idempotencyViolations',
        `partnership.create by ${op.actor.sub} (cycle ${op.cycle}, key ${op.key}): ${copies} partnerships named ${op.tag}; attempts ${attemptsOf(op)}`
      )
  }
}

/** What an agreement says about itself: at most one active version, each activated version activated once in the log. */
export async function checkAgreement(view: View, tally: Tally, pid: string, aid: string): Promise<void> {
  const versions = await view.versions(pid, aid)
  const events = await view.events(pid)
  if (!versions || !events) return
  const active = versions.filter((v) => v.status === 'active')
  if (active.length > 1) violate(tally, 'inconsistencies', `agreement ${aid}: ${active.length} active versions`)
  for (const v of versions) {
    if (v.activatedAt === null) continue
    if (
      count(
        events,
        (e) => e.type === 'version.activated' && e.data.agreementId === aid && e.data.number === v.number
      ) === 0
    ) {
      violate(
        tally,
        'inconsistencies',
        `agreement ${aid}: version ${v.number} was activated at ${v.activatedAt} without a version.activated event`
      )
    }
  }
  const agreement = await view.get(`/v1/partnerships/${pid}/agreements/${aid}`, view.readerOf(pid)!)
  if (agreement.status === 200 && agreement.json.activeVersion !== (active[0]?.number ?? null)) {
    violate(
      tally,
      'inconsistencies',
      `agreement ${aid}: activeVersion ${agreement.json.activeVersion} but version ${active[0]?.number ?? 'none'} is active`
    )
  }
}

/** What a partnership says about itself: its name and members are what its log says they are. */
export async function checkPartnership(view: View, tally: Tally, pid: string): Promise<void> {
  const events = await view.events(pid)
  const reader = view.readerOf(pid)
  if (!events || !reader) return
  const read = await view.get(`/v1/partnerships/${pid}`, reader)
  if (read.status !== 200) return
  const named = events
    .filter(
      (e) => (e.type === 'partnership.created' || e.type === 'partnership.updated') && typeof e.data.name === 'string'
    )
    .at(-1)
  if (named && read.json.name !== named.data.name)
    violate(
      tally,
      'inconsistencies',
      `partnership ${pid}: named ${JSON.stringify(read.json.name)}, its log says ${JSON.stringify(named.data.name)}`
    )
  const members = new Set<string>()
  for (const e of events) {
    if (e.type === 'member.joined') members.add(e.actorId!)
    if (e.type === 'member.left') members.delete(e.actorId!)
  }
  const listed = new Set((read.json.members as Array<{ userId: string }>).map((m) => m.userId))
  if (listed.size !== members.size || [...members].some((m) => !listed.has(m)))
    violate(
      tally,
      'inconsistencies',
      `partnership ${pid}: members ${[...listed].length} listed, ${members.size} by its log`
    )
}

/**
 * Every answer of the cycle's ops: a 500 (any 5xx but 503, the documented "unavailable") is a
 * defect, so is a 503 that is not problem+json, and so is no answer at all within the client's
 * timeout (a kill resets connections at once; only a hang lets the timeout fire).
 */
export function checkAnswers(tally: Tally, ops: readonly Op[]): { timedOut: number } {
  let timedOut = 0
  for (const op of ops) {
    for (const a of op.attempts) {
      if (a.status === null && a.error === 'TimeoutError')
        violate(tally, 'hangs', `${who(op)} had no answer within ${Math.round(a.ms)} ms (${a.phase})`)
      if (a.status === 503 && a.code === 'timed-out') timedOut++
      if (a.status !== null && a.status >= 500 && a.status !== 503)
        violate(
          tally,
          'serverErrors',
          `${who(op)} answered ${a.status} ${a.code ?? ''} (${a.phase}): ${a.text.slice(0, 200)}`
        )
      else if (a.status === 503 && !a.contentType?.startsWith('application/problem+json'))
        violate(
          tally,
          'serverErrors',
          `${who(op)} answered 503 ${a.contentType} (not problem+json): ${a.text.slice(0, 200)}`
        )
    }
  }
  return { timedOut }
}
