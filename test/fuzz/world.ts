import { randomBytes } from 'node:crypto'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import type { TestApp } from '../helpers/app.ts'

/** Who sends a request: a partner, another partner, an observer, a stranger, a token lacking scopes, or no valid token at all. */
export const CALLERS = [
  'partner',
  'otherPartner',
  'observer',
  'stranger',
  'wrongScope',
  'noToken',
  'garbageToken',
  'malformedHeader'
] as const
export type Caller = (typeof CALLERS)[number]

/**
 * Real data the generated requests point at, by the name of the parameter or
 * field that carries it (`pid`, `aid`, `n`, `contentHash`, …). A fuzzer that
 * only sends random ids never gets past the 404; these make it reach the code
 * behind the lookup.
 */
export interface World {
  /** The Authorization header each caller sends (undefined: none). */
  authorization: Record<Caller, string | undefined>
  /** Real values by name, e.g. `real.pid[0]`. */
  real: Record<string, unknown[]>
}

/** The people of every world: Bob (partner), Olivia (observer) and Sam (stranger) are provisioned once; each world has a new Alice. */
export interface Cast {
  bob: Person
  olivia: Person
  sam: Person
  problemCodes: string[]
}

export async function castOf(ctx: TestApp): Promise<Cast> {
  const k = agreementKit(ctx)
  const [bob, olivia, sam] = await Promise.all([k.person('Bob'), k.person('Olivia'), k.person('Sam')])
  const problemCodes = k
    .expectStatus(await ctx.request({ method: 'GET', url: '/problems' }), 200, 'problems')
    .json()
    .items.map((p: { code: string }) => p.code)
  return { bob, olivia, sam, problemCodes }
}

/**
 * Arranges, through the API itself: a partnership of two partners and an
 * observer (approved by both partners), an active agreement with a draft, an
 * open proposal and an open early review, a second agreement still proposed,
 * a third active one with a draft and nothing open, pending partner and
 * observer invitations, a calendar feed, a webhook with a delivery, and a stranger
 * with no membership. Alice is new every time: the fuzzer creates calendar
 * feeds as her, and a user may have only ten.
 */
export async function arrangeWorld(ctx: TestApp, cast: Cast): Promise<World> {
  const k = agreementKit(ctx)
  const { bob, olivia, sam } = cast
  const alice = await k.person('Alice')
  const send = async (
    by: { token: string },
    method: 'POST',
    url: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<any> => {
    const res = await ctx.request({ method, url, token: by.token, headers, body })
    if (res.statusCode !== 201)
      throw new Error(`arranging the world: ${method} ${url} answered ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const { pid, url: at } = await k.partnership(alice, [bob])
  // Olivia joins step by step: the fuzzer needs her (used) invitation among the real ones.
  const observerInvitation = await k.invite(alice, pid, 'observer')
  for (const partner of [alice, bob]) await k.approve(partner, pid, observerInvitation.id)
  await k.accept(olivia, observerInvitation.token)

  // Agreement A: version 1 active, 2 a draft by Alice, 3 Bob's open proposal, and an early review open.
  const a = await send(alice, 'POST', `${at}/agreements`, { content: content() })
  const aid: string = a.id
  await send(bob, 'POST', `${at}/agreements/${aid}/versions/1/signatures`, { contentHash: a.proposal.contentHash })
  const draft = await send(
    alice,
    'POST',
    `${at}/agreements/${aid}/versions`,
    { basedOn: 1, draft: true, content: content({ title: 'Phones, drafted' }) },
    { 'if-match': '*' }
  )
  const proposal = await send(
    bob,
    'POST',
    `${at}/agreements/${aid}/versions`,
    { basedOn: 1, content: content({ title: 'Phones, proposed', note: 'Counter-offer' }) },
    { 'if-match': '*' }
  )
  const review = await send(alice, 'POST', `${at}/agreements/${aid}/reviews`)
  // On A's active version: an incident about Bob still reported, one he acknowledged, and an appreciation.
  const incident = (subject: { id: string }) =>
    send(alice, 'POST', `${at}/agreements/${aid}/incidents`, {
      clauseKey: 'no-hidden-chats',
      subjectId: subject.id,
      occurredAt: ctx.clock.now().toISOString(),
      description: 'Deleted a thread'
    })
  const reported = await incident(bob)
  const acknowledged = await incident(bob)
  const ack = await ctx.request({
    method: 'POST',
    url: `${at}/agreements/${aid}/incidents/${acknowledged.id}/acknowledge`,
    token: bob.token,
    body: { note: 'Sorry' }
  })
  if (ack.statusCode !== 200) throw new Error(`arranging the world: acknowledge answered ${ack.statusCode} ${ack.body}`)
  const appreciation = await send(bob, 'POST', `${at}/agreements/${aid}/appreciations`, { text: 'Thank you' })
  // Agreement B: proposed by Bob, not yet signed by Alice.
  const b = await send(bob, 'POST', `${at}/agreements`, { content: content({ title: 'Weekends', category: 'time' }) })
  // Agreement C: version 1 active, 2 a draft by Alice, nothing open: a review can be opened, the draft proposed.
  const c = await send(alice, 'POST', `${at}/agreements`, {
    content: content({ title: 'Money', category: 'finances' })
  })
  await send(bob, 'POST', `${at}/agreements/${c.id}/versions/1/signatures`, { contentHash: c.proposal.contentHash })
  const cDraft = await send(
    alice,
    'POST',
    `${at}/agreements/${c.id}/versions`,
    { basedOn: 1, draft: true, content: content({ title: 'Money, drafted', category: 'finances' }) },
    { 'if-match': '*' }
  )

  const pendingPartner = await send(alice, 'POST', `${at}/invitations`, { role: 'partner' })
  const pendingObserver = await send(bob, 'POST', `${at}/invitations`, { role: 'observer' })
  const calendar = await send(alice, 'POST', '/v1/me/calendar-tokens')
  // A webhook on a public address given as an IP (no DNS in tests); its own webhook.created is a delivery.
  const hookUrl = 'https://93.184.215.14/accord'
  const webhook = await send(alice, 'POST', `${at}/webhooks`, { url: hookUrl, eventTypes: ['*'] })
  const deliveries = await ctx.request({
    method: 'GET',
    url: `${at}/webhooks/${webhook.id}/deliveries`,
    token: alice.token
  })
  const delivery = k.expectStatus(deliveries, 200, 'deliveries').json().items[0]
  // A checkpoint of the log, and a receipt (a JWS of the service of another type): POST …/audit/verify checks them.
  const checkpoint = (await ctx.request({ method: 'GET', url: `${at}/audit/checkpoint`, token: alice.token })).json()
    .checkpoint as string
  const receipt = a.proposal.signatures[0].receipt as string

  return {
    authorization: {
      partner: `Bearer ${alice.token}`,
      otherPartner: `Bearer ${bob.token}`,
      observer: `Bearer ${olivia.token}`,
      stranger: `Bearer ${sam.token}`,
      wrongScope: `Bearer ${await k.scoped(alice, 'audit:read')}`,
      noToken: undefined,
      garbageToken: `Bearer ${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}`,
      malformedHeader: `Basic ${Buffer.from('alice:secret').toString('base64')}`
    },
    // Pools of one length line up: aid[i], n[i] and contentHash[i] are one version (A1 active, A2 draft, A3 proposed, B1 proposed, C1 active, C2 draft).
    real: {
      pid: [pid],
      aid: [aid, aid, aid, b.id, c.id, c.id],
      n: [1, 2, 3, 1, 1, 2],
      contentHash: [
        a.proposal.contentHash,
        draft.contentHash,
        proposal.contentHash,
        b.proposal.contentHash,
        c.proposal.contentHash,
        cDraft.contentHash
      ],
      basedOn: [1, 1, 3, 1, 1, 1],
      counterTo: [3, 3, 3, 1, 1, 1],
      against: [2, 3, 1, 1, 2, 1],
      rid: [review.id],
      // invitations and incidents share the name: both pools are real for one route or the other
      iid: [pendingPartner.id, pendingObserver.id, observerInvitation.id, reported.id, acknowledged.id],
      apid: [appreciation.id],
      clauseKey: ['no-hidden-chats'],
      subjectId: [alice.id, bob.id],
      consequenceIndex: [0, null],
      occurredAt: [ctx.clock.now().toISOString()],
      id: [calendar.id],
      file: [`${calendar.token}.ics`],
      token: [pendingPartner.token, pendingObserver.token, observerInvitation.token],
      appliesTo: [[alice.id], [alice.id, bob.id]],
      checkpoints: [[checkpoint], [checkpoint, receipt], [receipt]],
      timezone: ['Europe/Paris', 'Pacific/Auckland', 'UTC'],
      rrule: ['FREQ=MONTHLY;BYDAY=1SU', 'FREQ=WEEKLY', 'FREQ=YEARLY;COUNT=3'],
      expiresAt: [new Date(ctx.clock.now().getTime() + 86_400_000).toISOString()],
      sub: ['alice-fuzz', 'bob-fuzz'],
      code: cast.problemCodes,
      wid: [webhook.id],
      did: [delivery.id],
      url: [hookUrl],
      eventTypes: [['*'], ['incident.reported', 'version.signed']]
    }
  }
}

/**
 * Whether the states most operations need still hold: a valid request may have
 * let Alice leave (dissolving the partnership), closed an open proposal,
 * dropped the draft or completed the review. Five reads, instead of arranging
 * a new world after every successful write. (Lesser changes, such as the
 * observer leaving or a revoked feed, are left: the checks hold in any state.)
 */
/** Whether every caller with a token is still a person (DELETE /v1/me may have erased one: a new cast then). */
export async function everyoneStillThere(ctx: TestApp, world: World): Promise<boolean> {
  for (const caller of ['partner', 'otherPartner', 'observer', 'stranger'] as const) {
    const res = await ctx.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: world.authorization[caller]! }
    })
    if (res.statusCode !== 200) return false
  }
  return true
}

export async function stillArranged(ctx: TestApp, world: World): Promise<boolean> {
  if (!(await everyoneStillThere(ctx, world))) return false
  const [pid, aid, second, rid] = [world.real.pid![0], world.real.aid![0], world.real.aid![3], world.real.rid![0]]
  const read = async (url: string): Promise<any> => {
    const res = await ctx.app.inject({ method: 'GET', url, headers: { authorization: world.authorization.partner! } })
    return res.statusCode === 200 ? res.json() : null
  }
  const agreement = `/v1/partnerships/${pid}/agreements/${aid}`
  if ((await read(`/v1/partnerships/${pid}`))?.status !== 'active') return false
  const a = await read(agreement)
  return (
    a?.activeVersion === 1 &&
    a.openProposal === 3 &&
    (await read(`/v1/partnerships/${pid}/agreements/${second}`))?.openProposal === 1 &&
    (await read(`${agreement}/versions/2`))?.status === 'draft' &&
    (await read(`${agreement}/reviews/${rid}`))?.status === 'open'
  )
}
