import { readFileSync } from 'node:fs'
import t from 'tap'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { deliverDue } from '../../src/webhooks/delivery.service.ts'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

// Two invariants other code relies on, held for every writer there is:
// - every change to what GET agreement shows moves the agreement's revision (its ETag): the body kept in memory
//   (agreement.render.ts) is served again only while the revision is the same;
// - every change to a partnership appends to its log: the optimistic sign-off writes only if the log's head is
//   still the one it read, and the agenda's lists kept in memory (agenda.render.ts) are served again only while
//   the log's head is the same: so after each write every member's agenda, read through what was kept, must
//   equal the agenda read afresh. The pages of the log kept in memory (event.render.ts) are checked against
//   the rows' versions instead, and need no writer's help: here too each member's page, read through what was
//   kept, must equal the page read afresh.
// Each write operation of the API document needs a scenario below (or a reason to have none), so a new writer
// that forgets either invariant, or a new route nobody thought of, fails here.
const ctx = await buildTestApp(t, { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
// What an agreement shows is read where nothing is kept in memory: through the cache, a writer that forgot to
// move the revision would be served the old body and never be caught.
const truth = await buildTestApp(t, {
  database: ctx.database,
  clock: ctx.clock,
  env: { AGREEMENT_CACHE_MB: '0', AGENDA_CACHE_MB: '0', EVENTS_CACHE_MB: '0', WEBHOOK_ALLOW_PRIVATE: 'true' }
})
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)

interface World {
  pid: string
  alice: Person
  bob: Person
  carol: Person
}
/** Arranges what the write needs (writers of its own run then), and returns the write itself. */
type Scenario = (w: World) => Promise<() => Promise<{ statusCode: number }>>

async function world(): Promise<World> {
  const [alice, bob, carol] = [await k.person('Alice'), await k.person('Bob'), await k.person('Carol')]
  const pid = await r.partnership('Europe/Paris', alice, [bob, carol])
  return { pid, alice, bob, carol }
}
const req = ctx.request
const agreementUrl = (w: World, aid: string) => k.agreementUrl(w.pid, aid)

const scenarios: Record<string, Scenario> = {
  updatePartnership: async (w) => () =>
    req({
      method: 'PATCH',
      url: `/v1/partnerships/${w.pid}`,
      token: w.alice.token,
      headers: { 'if-match': '*' },
      body: { name: 'Renamed' }
    }),
  leavePartnership: async (w) => {
    await k.create(w.alice, w.pid) // an open proposal that a partner leaving voids
    return () => req({ method: 'DELETE', url: `/v1/partnerships/${w.pid}/members/me`, token: w.carol.token })
  },
  eraseMe: async (w) => {
    await k.create(w.alice, w.pid) // an open proposal that the erased partner's leaving voids
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid, content({ title: 'Kept' }))
    // texts of Carol's that erasure shreds, on an agreement that stays
    await req({
      method: 'POST',
      url: `${agreementUrl(w, aid)}/appreciations`,
      token: w.carol.token,
      body: { text: 'You called.' }
    })
    return () => req({ method: 'DELETE', url: '/v1/me', token: w.carol.token, headers: { 'if-match': '*' } })
  },
  createInvitation: async (w) => () =>
    req({
      method: 'POST',
      url: `/v1/partnerships/${w.pid}/invitations`,
      token: w.alice.token,
      body: { role: 'partner' }
    }),
  revokeInvitation: async (w) => {
    const inv = await k.invite(w.alice, w.pid, 'partner')
    return () => req({ method: 'DELETE', url: `/v1/partnerships/${w.pid}/invitations/${inv.id}`, token: w.alice.token })
  },
  approveInvitation: async (w) => {
    const inv = await k.invite(w.alice, w.pid, 'observer')
    return () =>
      req({ method: 'POST', url: `/v1/partnerships/${w.pid}/invitations/${inv.id}/approvals`, token: w.bob.token })
  },
  removeObserver: async (w) => {
    await k.create(w.alice, w.pid) // an open proposal: an observer's removal must leave it as it is
    const olga = await k.person('Olga')
    await k.join(olga, w.pid, 'observer', w.alice, [w.alice, w.bob, w.carol])
    return () => req({ method: 'DELETE', url: `/v1/partnerships/${w.pid}/members/${olga.id}`, token: w.bob.token })
  },
  acceptInvitation: async (w) => {
    await k.create(w.alice, w.pid) // a partner joining voids it
    const inv = await k.invite(w.alice, w.pid, 'partner')
    const dan = await k.person('Dan')
    return () => req({ method: 'POST', url: '/v1/invitations/accept', token: dan.token, body: { token: inv.token } })
  },
  createAgreement: async (w) => () =>
    req({ method: 'POST', url: k.agreementsUrl(w.pid), token: w.alice.token, body: { content: content() } }),
  proposeVersion: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    return () => k.proposeVersion(w.bob, w.pid, aid, { basedOn: 1, content: content({ title: 'Revised' }) })
  },
  updateDraft: async (w) => {
    const a = await k.create(w.alice, w.pid, { content: content(), draft: true })
    return () =>
      req({
        method: 'PATCH',
        url: k.versionUrl(w.pid, a.id, 1),
        token: w.alice.token,
        headers: { 'if-match': '*' },
        body: { content: content({ title: 'Edited draft' }) }
      })
  },
  deleteDraft: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    await k.proposeVersion(w.alice, w.pid, aid, { basedOn: 1, content: content(), draft: true })
    return () => req({ method: 'DELETE', url: k.versionUrl(w.pid, aid, 2), token: w.alice.token })
  },
  proposeDraft: async (w) => {
    const a = await k.create(w.alice, w.pid, { content: content(), draft: true })
    return () => req({ method: 'POST', url: `${k.versionUrl(w.pid, a.id, 1)}/propose`, token: w.alice.token })
  },
  signVersion: async (w) => {
    const a = await k.create(w.alice, w.pid)
    return () => k.sign(w.bob, w.pid, a.id, 1) // not the last signature: only the proposal's signatures change
  },
  'signVersion#activates': async (w) => {
    const a = await k.create(w.alice, w.pid)
    await k.sign(w.bob, w.pid, a.id, 1)
    return () => k.sign(w.carol, w.pid, a.id, 1) // the last one activates
  },
  'revokeSignature#proposed': async (w) => {
    const a = await k.create(w.alice, w.pid)
    await k.sign(w.bob, w.pid, a.id, 1)
    return () => req({ method: 'DELETE', url: `${k.versionUrl(w.pid, a.id, 1)}/signatures/me`, token: w.bob.token })
  },
  revokeSignature: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    return () => req({ method: 'DELETE', url: `${k.versionUrl(w.pid, aid, 1)}/signatures/me`, token: w.bob.token })
  },
  declineVersion: async (w) => {
    const a = await k.create(w.alice, w.pid)
    return () =>
      req({
        method: 'POST',
        url: `${k.versionUrl(w.pid, a.id, 1)}/decline`,
        token: w.bob.token,
        body: { reason: 'Not yet' }
      })
  },
  withdrawVersion: async (w) => {
    const a = await k.create(w.alice, w.pid)
    return () => req({ method: 'POST', url: `${k.versionUrl(w.pid, a.id, 1)}/withdraw`, token: w.alice.token })
  },
  openReview: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    return () => r.openEarly(w.alice, w.pid, aid)
  },
  respondToReview: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    const review = (await r.openEarly(w.alice, w.pid, aid)).json()
    for (const p of [w.alice, w.bob]) await r.answer(p, w.pid, aid, review.id, { outcome: 'revise', rating: 2 })
    return () => r.answer(w.carol, w.pid, aid, review.id, { outcome: 'revise', rating: 2 }) // the last answer closes it: in revision
  },
  reportIncident: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    return () => report(w, aid) // GET agreement shows openIncidents and lastIncidentAt
  },
  acknowledgeIncident: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    const iid = (await report(w, aid)).json().id
    return () => req({ method: 'POST', url: incidentUrl(w, aid, iid, 'acknowledge'), token: w.bob.token, body: {} })
  },
  disputeIncident: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    const iid = (await report(w, aid)).json().id
    return () =>
      req({ method: 'POST', url: incidentUrl(w, aid, iid, 'dispute'), token: w.bob.token, body: { note: 'No' } })
  },
  resolveIncident: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    const iid = (await report(w, aid)).json().id
    await req({ method: 'POST', url: incidentUrl(w, aid, iid, 'acknowledge'), token: w.bob.token, body: {} })
    return () =>
      req({
        method: 'POST',
        url: incidentUrl(w, aid, iid, 'resolve'),
        token: w.carol.token,
        body: { consequenceIndex: 0, note: 'Done' }
      })
  },
  createWebhook: async (w) => () =>
    req({
      method: 'POST',
      url: `/v1/partnerships/${w.pid}/webhooks`,
      token: w.alice.token,
      body: { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] }
    }),
  deleteWebhook: async (w) => {
    const wid = await webhook(w)
    return () => req({ method: 'DELETE', url: `/v1/partnerships/${w.pid}/webhooks/${wid}`, token: w.bob.token })
  },
  addAppreciation: async (w) => {
    const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid)
    return () =>
      req({
        method: 'POST',
        url: `${agreementUrl(w, aid)}/appreciations`,
        token: w.carol.token,
        body: { text: 'Thank you' }
      })
  }
}

async function webhook(w: World): Promise<string> {
  const res = await req({
    method: 'POST',
    url: `/v1/partnerships/${w.pid}/webhooks`,
    token: w.alice.token,
    body: { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] }
  })
  if (res.statusCode !== 201) throw new Error(`webhook: ${res.statusCode} ${res.body}`)
  return res.json().id
}

function report(w: World, aid: string) {
  return req({
    method: 'POST',
    url: `${agreementUrl(w, aid)}/incidents`,
    token: w.alice.token,
    body: {
      clauseKey: 'no-hidden-chats',
      subjectId: w.bob.id,
      occurredAt: ctx.clock.now().toISOString(),
      description: 'Hid it'
    }
  })
}
const incidentUrl = (w: World, aid: string, iid: string, action: string) =>
  `${agreementUrl(w, aid)}/incidents/${iid}/${action}`

// Writes that touch no partnership (the caller's own profile and feeds, token minting), or that start one.
const exempt: Record<string, string> = {
  updateMe: "the caller's profile belongs to no partnership",
  createCalendarToken: "the caller's feeds belong to no partnership",
  revokeCalendarToken: "the caller's feeds belong to no partnership",
  createDevToken: 'mints a token; writes nothing',
  createPartnership: 'starts a log of its own (tested below)',
  replayWebhookDelivery:
    'sends a message again: changes no agreement, agenda nor anything the log records (tested below, under the lock)',
  verifyAuditCheckpoints:
    'a POST only for its body (up to 100 checkpoints): it reads the log and changes nothing of a partnership'
}

/** Each member's agenda (status and body, without the instants of the request) from an app. */
async function agendas(app: typeof ctx, w: World): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {}
  for (const [name, p] of Object.entries({ alice: w.alice, bob: w.bob, carol: w.carol })) {
    const res = await app.request({ method: 'GET', url: `/v1/partnerships/${w.pid}/agenda`, token: p.token })
    const { asOf: _a, horizon: _h, ...lists } = res.json()
    // An erased person's old token: 401 account-erased from an instance that re-reads who they are, 404 from one
    // that still maps it to their old id for a while (auth.ts); either way, no agenda.
    const refused = res.statusCode === 401 || res.statusCode === 404
    seen[name] =
      res.statusCode === 200
        ? { status: 200, ...lists }
        : refused
          ? { status: 'refused' }
          : { status: res.statusCode, type: lists.type }
  }
  return seen
}

/** Each member's first page of the log (status and bytes) from an app. */
async function logs(app: typeof ctx, w: World): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {}
  for (const [name, p] of Object.entries({ alice: w.alice, bob: w.bob, carol: w.carol })) {
    const res = await app.request({ method: 'GET', url: `/v1/partnerships/${w.pid}/events?limit=100`, token: p.token })
    // As for agendas: an erased person's old token is refused with 401 or 404, depending on the instance.
    seen[name] =
      res.statusCode === 200
        ? { status: 200, body: res.body }
        : res.statusCode === 401 || res.statusCode === 404
          ? { status: 'refused', leaked: res.body.includes('"items"') }
          : { status: res.statusCode }
  }
  return seen
}

interface Observed {
  head: number
  /** Each member's page of the log as the app that keeps pages serves it, and as read afresh. */
  logs: { kept: Record<string, unknown>; fresh: Record<string, unknown> }
  agreements: Map<string, { body: string; etag: string }>
  /** The agendas as the app that keeps them serves them, and as read afresh. */
  agendas: { kept: Record<string, unknown>; fresh: Record<string, unknown> }
}

/** What every agreement of the partnership shows (its GET body, uncached) and its ETag, and the head of the log. */
async function observe(w: World): Promise<Observed> {
  const list = (await req({ method: 'GET', url: `${k.agreementsUrl(w.pid)}?limit=100`, token: w.alice.token })).json()
    .items as Array<{ id: string }>
  const agreements = new Map<string, { body: string; etag: string }>()
  for (const a of list) {
    const res = await truth.request({ method: 'GET', url: agreementUrl(w, a.id), token: w.alice.token })
    if (res.statusCode !== 200) throw new Error(`GET agreement (uncached): ${res.statusCode} ${res.body}`)
    agreements.set(a.id, { body: res.body, etag: String(res.headers.etag) })
  }
  return {
    head: await k.headSeq(w.alice, w.pid),
    agreements,
    agendas: { kept: await agendas(ctx, w), fresh: await agendas(truth, w) },
    logs: { kept: await logs(ctx, w), fresh: await logs(truth, w) }
  }
}

function holds(t: Tap, what: string, before: Observed, after: Observed): void {
  t.ok(after.head > before.head, `${what}: appended to the partnership's log (${before.head} → ${after.head})`)
  t.same(after.agendas.kept, after.agendas.fresh, `${what}: every agenda served from memory equals one read afresh`)
  t.same(after.logs.kept, after.logs.fresh, `${what}: every page of the log served from memory equals one read afresh`)
  for (const [aid, was] of before.agreements) {
    const now = after.agreements.get(aid)
    if (now === undefined || now.body === was.body) continue
    t.not(now.etag, was.etag, `${what}: agreement ${aid.slice(-6)} shows something else, so its ETag moved`, {
      was: was.body,
      now: now.body
    })
  }
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

t.test('every write operation of the API document is covered here', async (t) => {
  const doc = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { operationId: string }>>
  }
  const writers = Object.values(doc.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([m]) => m !== 'get')
      .map(([, op]) => op.operationId)
  )
  const covered = new Set(Object.keys(scenarios).map((name) => name.split('#')[0]))
  t.same(
    writers.filter((id) => !covered.has(id) && !(id in exempt)),
    [],
    'each has a scenario or a reason to have none'
  )
})

for (const [operation, scenario] of Object.entries(scenarios)) {
  t.test(`${operation}: the log moves, and so does the ETag of every agreement whose GET changed`, async (t) => {
    const w = await world()
    const write = await scenario(w)
    const before = await observe(w)
    const res = await write()
    t.ok(res.statusCode >= 200 && res.statusCode < 300, `${operation} succeeded (${res.statusCode})`)
    holds(t, operation, before, await observe(w))
  })
}

t.test("the scheduler's writers: a review opened when due, and marked overdue", async (t) => {
  const w = await world()
  const aid = await k.activeAgreement(w.alice, [w.bob, w.carol], w.pid, weekly('Due'))
  const people = [w.alice, w.bob, w.carol]
  const due = new Date((await k.agreement(w.alice, w.pid, aid)).body.nextReviewAt)
  let before = await observe(w)
  await r.advancePast(due, people)
  t.ok((await runDueWork(ctx.deps)).opened >= 1, "a review opened (other scenarios' may open too: one clock)")
  holds(t, 'opening a due review', before, await observe(w))
  before = await observe(w)
  await r.advancePast(new Date(due.getTime() + 8 * 86_400_000), people)
  t.ok((await runDueWork(ctx.deps)).overdue >= 1, 'and marked overdue a week later')
  holds(t, 'marking it overdue', before, await observe(w))
})

t.test('createPartnership starts a log of its own', async (t) => {
  const erin = await k.person('Erin')
  const res = await req({
    method: 'POST',
    url: '/v1/partnerships',
    token: erin.token,
    body: { name: 'Fresh', timezone: 'UTC' }
  })
  t.equal(res.statusCode, 201)
  t.same(
    (await k.eventsAfter(erin, res.json().id, 0)).map((e) => e.type),
    ['partnership.created', 'member.joined']
  )
})

t.test(
  "replayWebhookDelivery changes nothing a member reads, and the worker's writes append webhook.disabled",
  async (t) => {
    const w = await world()
    const wid = await webhook(w)
    const list = await req({
      method: 'GET',
      url: `/v1/partnerships/${w.pid}/webhooks/${wid}/deliveries`,
      token: w.alice.token
    })
    const did = list.json().items[0].id
    const before = await observe(w)
    const res = await req({
      method: 'POST',
      url: `/v1/partnerships/${w.pid}/webhooks/${wid}/deliveries/${did}/replay`,
      token: w.alice.token
    })
    t.equal(res.statusCode, 202)
    const after = await observe(w)
    t.equal(after.head, before.head, 'no event: the log is unchanged')
    t.same(after.agendas, before.agendas)
    t.same([...after.agreements], [...before.agreements])
  }
)

t.test("the webhook worker's writer: a webhook failing for 5 days disabled (webhook.disabled)", async (t) => {
  const w = await world()
  await webhook(w) // port 9 on 127.0.0.1: refused, every time
  await deliverDue(ctx.deps)
  ctx.clock.advance(5 * 86_400_000 + 60_000)
  await k.refresh([w.alice, w.bob, w.carol])
  const before = await observe(w)
  t.ok((await deliverDue(ctx.deps)).claimed >= 1, 'the retry, due')
  const after = await observe(w)
  holds(t, 'disabling a failing webhook', before, after)
  t.same(
    (await k.eventsAfter(w.alice, w.pid, before.head)).map((e) => e.type),
    ['webhook.disabled']
  )
})
