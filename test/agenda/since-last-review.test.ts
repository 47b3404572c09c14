import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit } from '../helpers/incidents.ts'
import { reviewKit } from '../helpers/reviews.ts'

// What the agenda brings to a check-in is what is new to the conversation: an incident reported after the last
// review counts there even when it occurred before it. And a dissolved partnership, where nothing can be
// resolved any more, lists no unresolved incident to talk about.
const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)
const i = incidentKit(ctx, k)
const HOUR = 3600_000

const agenda = async (who: { token: string }, pid: string): Promise<any> =>
  k
    .expectStatus(
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agenda`, token: who.token }),
      200,
      'agenda'
    )
    .json()

t.test('since the last review: incidents reported after it, whenever they occurred', async (t) => {
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid)
  const beforeReview = new Date(ctx.clock.now().getTime() + HOUR)
  ctx.clock.advance(2 * HOUR)
  await k.refresh([alice, bob])
  const before = await i.reported(alice, pid, aid, i.reportBody(bob, { occurredAt: beforeReview.toISOString() }))
  const review = k.expectStatus(await r.openEarly(alice, pid, aid), 201, 'review').json()
  for (const p of [alice, bob]) await r.answer(p, pid, aid, review.id, { outcome: 'keep', rating: 4 })
  ctx.clock.advance(HOUR)
  await k.refresh([alice, bob])
  // Reported now, about the hour before the review: new to the conversation.
  const late = await i.reported(bob, pid, aid, i.reportBody(alice, { occurredAt: beforeReview.toISOString() }))
  const [entry] = (await agenda(alice, pid)).sinceLastReview
  t.equal(entry.incidentCount, 1, 'only the one reported after the review')
  t.same(
    entry.incidents.map((x: { id: string }) => x.id),
    [late.id],
    'the late report is listed, the one discussed at the review is not'
  )
  t.not(late.id, before.id)
})

t.test('a dissolved partnership lists no unresolved incidents (none can be resolved there)', async (t) => {
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const pid = await r.partnership('UTC', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid)
  await i.reported(alice, pid, aid, i.reportBody(bob))
  t.equal((await agenda(alice, pid)).incidents.length, 1, 'listed while the partnership lives')
  await k.leave(bob, pid)
  t.same((await agenda(alice, pid)).incidents, [], 'gone once it dissolved')
})
