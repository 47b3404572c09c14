import t from 'tap'
import { execute } from '../../src/db/driver.ts'
import { pageOf, paginate } from '../../src/http/pagination.ts'
import { ReviewSchema, toReview } from '../../src/reviews/review.schemas.ts'
import { listMyOpenReviews } from '../../src/reviews/review-read.service.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

// GET /v1/me/reviews is rendered to JSON by the database (one statement: the membership join, the reviews,
// their responses and the notes' data keys), and the sealed notes are opened and spliced in by Accord. The
// reference is the application's own rendering of the same rows through the response schema, serialized as
// the route did: every page, whatever its limit or cursor, must be the same bytes.
const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)
const Page = pageOf(ReviewSchema)

const mine = (who: Person, query: string) =>
  ctx.request({ method: 'GET', url: `/v1/me/reviews${query}`, token: who.token })

async function reference(who: Person, afterId: string | null, limit: number): Promise<string> {
  const rows = await listMyOpenReviews(ctx.deps, { userId: who.id, afterId, limit: limit + 1 })
  const page = paginate(rows, limit, (v) => ({ id: v.review.id }))
  return JSON.stringify(Page.parse({ items: page.items.map(toReview), nextCursor: page.nextCursor }))
}

t.test('every page of my open reviews is the bytes the schema rendering gives', async (t) => {
  const [alice, bob, carol, dan] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Carol'),
    k.person('Dan')
  ])
  const p1 = await r.partnership('Europe/Paris', alice, [bob, carol])
  const p2 = await r.partnership('Asia/Tokyo', carol, [dan])
  const a1 = await k.activeAgreement(alice, [bob, carol], p1, weekly('One'))
  const a1b = await k.activeAgreement(alice, [bob, carol], p1, weekly('One bis'))
  const a2 = await k.activeAgreement(dan, [carol], p2, weekly('Two'))
  const r1 = (await r.openEarly(alice, p1, a1)).json().id
  const r1b = (await r.openEarly(bob, p1, a1b)).json().id
  const r2 = (await r.openEarly(dan, p2, a2)).json().id
  // Notes that need escaping, one without a note, one stored before data keys existed (plain:), and one by
  // an author erased later (null, erased: true).
  ctx.clock.advance(1_000)
  k.expectStatus(
    await r.answer(alice, p1, a1, r1, {
      outcome: 'revise',
      rating: 2,
      note: 'Quotes " \\ tabs\t emoji 🫶 </script>\nline two'
    }),
    200,
    'alice answers'
  )
  ctx.clock.advance(1_000)
  k.expectStatus(await r.answer(bob, p1, a1, r1, { outcome: 'keep', rating: 5 }), 200, 'bob answers without a note')
  ctx.clock.advance(1_000)
  k.expectStatus(await r.answer(bob, p1, a1b, r1b, { outcome: 'keep', rating: 4, note: 'Ünïcödé bob' }), 200, 'bob')
  ctx.clock.advance(1_000)
  k.expectStatus(await r.answer(dan, p2, a2, r2, { outcome: 'retire', rating: 1, note: 'dan' }), 200, 'dan')
  // The plain note ends in a quote and U+0001, whose JSON would end in the very token a note's slot is.
  await execute(ctx.deps.db, 'update review_responses set note = $2 where review_id = $1', [
    r2,
    'plain:Written before keys "x"\u0001'
  ])
  // Two answers at the same instant are listed by responder, by both renderings.
  await execute(
    ctx.deps.db,
    'update review_responses set responded_at = (select min(responded_at) from review_responses where review_id = $1) where review_id = $1',
    [r1]
  )

  const check = async (who: Person, label: string) => {
    for (const limit of [1, 2, 3, 20]) {
      let cursor: string | null = null
      let afterId: string | null = null
      do {
        const res = await mine(who, `?status=open&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`)
        t.equal(res.statusCode, 200)
        t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/)
        t.equal(res.body, await reference(who, afterId, limit), `${label}: limit=${limit} after ${afterId}`)
        const page = res.json()
        cursor = page.nextCursor
        afterId = page.items.at(-1)?.id ?? null
      } while (cursor !== null)
    }
  }
  await check(carol, 'carol')
  await check(bob, 'bob')
  const notes = (await mine(carol, '?limit=20'))
    .json()
    .items.flatMap((x: any) => x.responses.map((y: any) => `${y.note}|${y.erased}`))
    .sort()
  t.same(
    notes,
    [
      'Quotes " \\ tabs\t emoji 🫶 </script>\nline two|false',
      'null|false',
      'Written before keys "x"\u0001|false',
      'Ünïcödé bob|false'
    ].sort(),
    'the notes read as written'
  )

  // Alice is erased: she leaves, and her note reads null, erased: true, in the review still open for the others.
  const etag = (await ctx.request({ method: 'GET', url: '/v1/me', token: alice.token })).headers.etag as string
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: '/v1/me', token: alice.token, headers: { 'if-match': etag } }),
    204,
    'erase alice'
  )
  await check(carol, 'carol after the erasure')
  const listed = (await mine(carol, '?limit=20')).json().items
  const hers = listed.flatMap((x: any) => x.responses).filter((y: any) => y.userId === alice.id)
  t.equal(hers.length, 1, 'her answer is still shown in the review still open')
  for (const y of hers) t.match(y, { note: null, erased: true }, "alice's note is gone")
  t.notOk(JSON.stringify(listed).includes('Quotes'), 'nothing of it is sent')

  // A member who leaves no longer sees that partnership's reviews, at once.
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `/v1/partnerships/${p2}/members/me`, token: dan.token }),
    204,
    'dan leaves'
  )
  t.notOk(
    (await mine(dan, '')).json().items.some((x: any) => x.id === r2),
    'none of the partnership Dan left'
  )
  await check(dan, 'dan after leaving')
})
