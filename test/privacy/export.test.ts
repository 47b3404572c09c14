import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { EVENTS_PAGE_JSON } from '../../src/audit/event.render.ts'
import { EXPORT_SCHEMA, ExportSchema } from '../../src/privacy/export.schemas.ts'
import { ContractChecker, type OpenApiDocument, operationsOf } from '../fuzz/contract.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { seedEvents } from '../helpers/events.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isProblem } from '../helpers/problems.ts'
import { reviewKit } from '../helpers/reviews.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const ik = incidentKit(ctx, k)
const rk = reviewKit(ctx, k)

/** A GET that must answer 200: its JSON. */
async function read(by: Person, url: string): Promise<any> {
  return k.expectStatus(await ctx.request({ method: 'GET', url, token: by.token }), 200, `GET ${url}`).json()
}

/** Every item of a paginated list, following its cursors. */
async function all(by: Person, url: string): Promise<any[]> {
  const items: any[] = []
  const sep = url.includes('?') ? '&' : '?'
  let page = await read(by, `${url}${sep}limit=100`)
  items.push(...page.items)
  while (page.nextCursor !== null) {
    page = await read(by, `${url}${sep}limit=100&cursor=${page.nextCursor}`)
    items.push(...page.items)
  }
  return items
}

const exportAs = (token: string | undefined) => ctx.request({ method: 'GET', url: '/v1/me/export', token })

// Alice and Bob, partners, with Olivia observing: an agreement with all it can hold, a long log, a webhook, a
// pending invitation, a calendar feed. Carol and Dan have a partnership of their own; Alice left one with Erin.
const [alice, bob, olivia, carol, dan, erin] = (await Promise.all(
  ['Alice', 'Bob', 'Olivia', 'Carol', 'Dan', 'Erin'].map((name) => k.person(name))
)) as [Person, Person, Person, Person, Person, Person]
const { pid } = await k.partnership(alice, [bob], [olivia])
const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
const rid = k.expectStatus(await rk.openEarly(alice, pid, aid), 201, 'open review').json().id
k.expectStatus(await rk.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4, note: 'It helps.' }), 200, 'answer')
k.expectStatus(await rk.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 5 }), 200, 'answer')
const incident = await ik.reported(alice, pid, aid, ik.reportBody(bob, { description: 'A chat was hidden.' }))
k.expectStatus(await ik.acknowledge(bob, pid, aid, incident.id, { note: 'I am sorry.' }), 200, 'acknowledge')
k.expectStatus(
  await ik.resolve(alice, pid, aid, incident.id, { consequenceIndex: 0, note: 'We talked it through.' }),
  200,
  'resolve'
)
k.expectStatus(await ik.appreciate(bob, pid, aid, { text: 'Thank you for calling ❤️ — merci.' }), 201, 'appreciate')
// Version 2 declined with a reason; version 3 proposed, its proposer's signature revoked (a revoked receipt).
k.expectStatus(
  await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: incidentTerms({ title: 'Second try' }) }),
  201,
  'propose 2'
)
k.expectStatus(
  await ctx.request({
    method: 'POST',
    url: `${k.versionUrl(pid, aid, 2)}/decline`,
    token: bob.token,
    body: { reason: 'Not yet: let us talk first.' }
  }),
  200,
  'decline'
)
k.expectStatus(
  await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: incidentTerms({ title: 'Third try' }) }),
  201,
  'propose 3'
)
k.expectStatus(
  await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, aid, 3)}/signatures/me`, token: alice.token }),
  204,
  'revoke'
)
const invitation = await k.invite(alice, pid, 'partner')
const webhook = k
  .expectStatus(
    await ctx.request({
      method: 'POST',
      url: `/v1/partnerships/${pid}/webhooks`,
      token: alice.token,
      body: { url: 'https://93.184.215.14/accord', eventTypes: ['*'] }
    }),
    201,
    'webhook'
  )
  .json()
const feed = k
  .expectStatus(await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: alice.token }), 201, 'feed')
  .json()
// More than one page of the log (the export reads it 200 events at a time).
await seedEvents(ctx, pid, alice.id, 450)
const other = await k.partnership(carol, [dan])
await k.activeAgreement(carol, [dan], other.pid)
const left = await k.partnership(alice, [erin])
await k.activeAgreement(alice, [erin], left.pid)
await k.leave(alice, left.pid)

t.test('GET /v1/me/export', async (t) => {
  const res = await exportAs(alice.token)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
  t.match(res.headers['content-disposition'], /^attachment; filename="accord-export\.json"$/)
  t.notOk(res.headers['content-length'], 'streamed: no Content-Length')
  const doc = JSON.parse(res.body)

  t.test('is one document of a named schema version, as its schema in the API document says', async (t) => {
    t.equal(doc.schema, EXPORT_SCHEMA)
    t.equal(doc.complete, true)
    const parsed = ExportSchema.safeParse(doc)
    t.ok(parsed.success, 'it parses with the Export schema', { issues: parsed.error?.issues.slice(0, 5) })
    t.ok(Date.parse(doc.exportedAt) <= ctx.clock.now().getTime())
    // What a client generated from openapi/openapi.json validates it with (the fuzzer's checker: ajv, every $ref).
    const api = JSON.parse(
      readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')
    ) as OpenApiDocument
    const operation = operationsOf(api).find((o) => o.id === 'GET /v1/me/export')!
    t.same(new ContractChecker(api).check(operation, res, {}), [], 'it validates against the API document')
  })

  t.test("holds the caller's profile, identity and calendar feeds as the API shows them", async (t) => {
    t.same(doc.user, await read(alice, '/v1/me'))
    t.same(doc.identity, { issuer: doc.identity.issuer, subject: alice.sub })
    t.match(doc.identity.issuer, /./)
    t.same(doc.calendarFeeds, await all(alice, '/v1/me/calendar-tokens'))
    t.equal(doc.calendarFeeds.length, 1)
  })

  t.test('holds only the partnerships the caller is a member of now', async (t) => {
    t.same(
      doc.partnerships.map((p: { id: string }) => p.id),
      [pid]
    )
    t.notOk(res.body.includes(other.pid), "another couple's partnership is absent")
    t.notOk(res.body.includes(left.pid), 'the partnership Alice left is absent')
    t.notOk(res.body.includes(carol.id) || res.body.includes(erin.id), 'and so are its people')
  })

  t.test('holds each resource exactly as its GET route shows it', async (t) => {
    const p = doc.partnerships[0]
    const { invitations, agreements, webhooks, events, ...partnership } = p
    t.same(partnership, await read(alice, `/v1/partnerships/${pid}`), 'the partnership and its members')
    t.same(invitations, await all(alice, `/v1/partnerships/${pid}/invitations`), 'its invitations')
    t.same(webhooks, await all(alice, `/v1/partnerships/${pid}/webhooks`), 'its webhooks')
    const log = await k.eventsAfter(alice, pid, 0)
    t.ok(log.length > 450)
    t.same(events, log, 'the whole audit log, event for event')
    const listed = await all(alice, k.agreementsUrl(pid))
    t.same(
      agreements.map(({ versions, reviews, incidents, appreciations, ...a }: any) => a),
      listed,
      'its agreements'
    )
    const [a] = agreements
    const url = k.agreementUrl(pid, aid)
    const versions = await all(alice, `${url}/versions`)
    t.same(
      a.versions.map(({ signatureHistory, ...v }: any) => v),
      versions,
      'every version'
    )
    for (const v of a.versions)
      t.same(
        v.signatureHistory,
        await all(alice, `${url}/versions/${v.number}/signatures`),
        `the signatures of version ${v.number}, revoked ones included`
      )
    t.equal(a.versions[1].declineReason, 'Not yet: let us talk first.')
    t.match(a.versions[2].signatureHistory, [{ signerId: alice.id, revokedAt: String, receipt: String }])
    t.same(a.reviews, await all(alice, `${url}/reviews`), 'its reviews')
    t.match(a.reviews, [{ responses: [{ note: 'It helps.' }, { note: null }] }])
    t.same(a.incidents, await ik.allIncidents(alice, pid, aid), 'its incidents')
    t.match(a.incidents, [{ description: 'A chat was hidden.', resolution: { note: 'We talked it through.' } }])
    t.same(a.appreciations, await ik.allAppreciations(alice, pid, aid), 'its appreciations')
    t.match(a.appreciations, [{ text: 'Thank you for calling ❤️ — merci.' }])
  })

  t.test('never holds a secret: webhook secrets, calendar and invitation tokens', async (t) => {
    t.notOk(res.body.includes(webhook.secret), 'no webhook secret')
    t.notOk(res.body.includes(feed.token), 'no calendar token')
    t.notOk(res.body.includes(invitation.token), 'no invitation token')
    t.notOk(/whsec_|acc_inv_/.test(res.body), 'nothing shaped like one')
  })

  t.test("an observer's export: the same partnership, without the webhooks only partners see", async (t) => {
    const mine = JSON.parse((await exportAs(olivia.token)).body)
    t.equal(mine.partnerships.length, 1)
    t.equal(mine.partnerships[0].webhooks, null)
    t.same(mine.partnerships[0].events, doc.partnerships[0].events)
    t.same(mine.partnerships[0].agreements, doc.partnerships[0].agreements)
  })
})

t.test('GET /v1/me/export needs a token with profile:write', async (t) => {
  isProblem(t, await exportAs(undefined), 401, 'token-required', 'without a token')
  const others = await k.scoped(alice, 'partnerships:read agreements:read audit:read webhooks:manage')
  isProblem(t, await exportAs(others), 403, 'insufficient-scope', 'with every scope but profile:write')
  t.equal((await exportAs(await k.scoped(alice, 'profile:write'))).statusCode, 200, 'with profile:write only')
})

t.test('a read that fails halfway cuts the answer: the client never gets a shorter document that parses', async (t) => {
  // The second page of the log fails as a lost connection would, after the start of the document was sent.
  const client = (ctx.deps.db as unknown as { session: { client: Record<string, (...a: unknown[]) => unknown> } })
    .session.client
  const method = typeof client.unsafe === 'function' ? 'unsafe' : 'query'
  const original = client[method]!
  let pages = 0
  client[method] = function (this: unknown, text: unknown, ...rest: unknown[]) {
    if (text === EVENTS_PAGE_JSON && ++pages === 2)
      return Promise.reject(Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' }))
    return original.call(this, text, ...rest)
  }
  t.teardown(() => {
    client[method] = original
  })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = ctx.app.server.address() as AddressInfo
  const res = await fetch(`http://127.0.0.1:${port}/v1/me/export`, {
    headers: { authorization: `Bearer ${alice.token}` }
  })
  t.equal(res.status, 200, 'the answer had begun')
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let received = ''
  const outcome = await (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return 'ended'
      received += decoder.decode(value, { stream: true })
    }
  })().catch((err: Error) => err)
  t.type(outcome, Error, 'reading the body fails: the connection was cut')
  t.equal(pages, 2, 'at the failing page')
  t.ok(received.startsWith(`{"schema":"${EXPORT_SCHEMA}"`), 'after the start of the document')
  t.throws(() => JSON.parse(received), 'what arrived does not parse')
  t.notOk(received.includes('"complete":true'))
  client[method] = original
  t.equal((await exportAs(alice.token)).statusCode, 200, 'the next export works')
})
