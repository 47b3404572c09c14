import t from 'tap'
import type { RetirementContent, TermsContent } from '../../src/agreements/content.schemas.ts'
import { diffContent } from '../../src/agreements/diff.rules.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, problemOf } from '../helpers/problems.ts'

type Clause = TermsContent['clauses'][number]

const U1 = '0190a6f0-0000-7000-8000-000000000001'
const U2 = '0190a6f0-0000-7000-8000-000000000002'

const clause = (key: string, overrides: Partial<Clause> = {}): Clause => ({
  key,
  text: `The text of ${key}.`,
  appliesTo: 'all',
  consequences: [],
  ...overrides
})

/** A normalized terms content (defaults filled, as the API stores and returns it). */
const terms = (overrides: Partial<TermsContent> = {}): TermsContent => ({
  title: 'Phone transparency',
  category: 'transparency',
  clauses: [
    clause('no-hidden-chats', { consequences: ['We talk it through within 48 hours.'] }),
    clause('shared-location')
  ],
  review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU', time: '19:00' },
  note: null,
  ...overrides
})
const v = (content: TermsContent) => ({ kind: 'terms', content })
const retirement = (note: string | null): { kind: string; content: RetirementContent } => ({
  kind: 'retirement',
  content: { note }
})
const empty = { clauses: { added: [], removed: [], changed: [] } }

t.test('diffContent', async (t) => {
  t.test('identical content (even as distinct objects) is an empty diff', async (t) => {
    t.same(diffContent(v(terms()), v(terms())), empty)
    t.strictSame(
      diffContent(v(terms()), v(structuredClone(terms()))),
      empty,
      'nothing but the three empty clause lists'
    )
    t.same(diffContent(retirement('Done.'), retirement('Done.')), empty)
  })

  t.test('clauses are added and removed by key', async (t) => {
    const from = terms({ clauses: [clause('a'), clause('b')] })
    const to = terms({ clauses: [clause('b'), clause('c', { consequences: ['A calm talk.'] })] })
    const d = diffContent(v(from), v(to))
    t.strictSame(d.clauses.added, [clause('c', { consequences: ['A calm talk.'] })], 'the whole added clause')
    t.strictSame(d.clauses.removed, [clause('a')], 'the whole removed clause')
    t.strictSame(d.clauses.changed, [])
    t.notOk('title' in d || 'review' in d || 'note' in d || 'kind' in d || 'category' in d, 'nothing else is reported')
  })

  t.test('clauses are matched by key, not by position', async (t) => {
    const from = terms({ clauses: [clause('a'), clause('b')] })
    const d = diffContent(v(from), v(terms({ clauses: [clause('b'), clause('a', { text: 'Moved and reworded.' })] })))
    t.strictSame(d.clauses.added, [])
    t.strictSame(d.clauses.removed, [])
    t.strictSame(
      d.clauses.changed,
      [{ key: 'a', text: { from: 'The text of a.', to: 'Moved and reworded.' } }],
      'a moved clause is one changed clause, not removed + added'
    )
    t.strictSame(
      diffContent(v(from), v(terms({ clauses: [clause('b'), clause('a')] }))).clauses,
      { added: [], removed: [], changed: [] },
      'moving alone changes no clause'
    )
  })

  t.test('a changed clause lists only the fields that changed', async (t) => {
    const base = [clause('k', { text: 'Old text.', appliesTo: 'all', consequences: ['one', 'two'] })]
    const d1 = diffContent(v(terms({ clauses: base })), v(terms({ clauses: [{ ...base[0]!, text: 'New text.' }] })))
    t.strictSame(d1.clauses.changed, [{ key: 'k', text: { from: 'Old text.', to: 'New text.' } }], 'text only')

    const d2 = diffContent(v(terms({ clauses: base })), v(terms({ clauses: [{ ...base[0]!, appliesTo: [U1] }] })))
    t.strictSame(
      d2.clauses.changed,
      [{ key: 'k', appliesTo: { from: 'all', to: [U1] } }],
      'appliesTo: all → one partner'
    )
    const d3 = diffContent(
      v(terms({ clauses: [{ ...base[0]!, appliesTo: [U1] }] })),
      v(terms({ clauses: [{ ...base[0]!, appliesTo: [U1, U2] }] }))
    )
    t.strictSame(
      d3.clauses.changed,
      [{ key: 'k', appliesTo: { from: [U1], to: [U1, U2] } }],
      'appliesTo: one partner → two'
    )
    t.strictSame(
      diffContent(
        v(terms({ clauses: [{ ...base[0]!, appliesTo: [U1] }] })),
        v(terms({ clauses: [{ ...base[0]!, appliesTo: [U1] }] }))
      ).clauses.changed,
      [],
      'equal lists are no change'
    )

    const d4 = diffContent(
      v(terms({ clauses: base })),
      v(terms({ clauses: [{ ...base[0]!, consequences: ['two', 'three'] }] }))
    )
    t.strictSame(
      d4.clauses.changed,
      [{ key: 'k', consequences: { added: ['three'], removed: ['one'], from: ['one', 'two'], to: ['two', 'three'] } }],
      'consequences added and removed'
    )
    const d5 = diffContent(v(terms({ clauses: base })), v(terms({ clauses: [{ ...base[0]!, consequences: [] }] })))
    t.strictSame(
      d5.clauses.changed,
      [{ key: 'k', consequences: { added: [], removed: ['one', 'two'], from: ['one', 'two'], to: [] } }],
      'every consequence removed'
    )
    const d6 = diffContent(
      v(terms({ clauses: base })),
      v(terms({ clauses: [{ ...base[0]!, consequences: ['two', 'one'] }] }))
    )
    t.strictSame(
      d6.clauses.changed,
      [{ key: 'k', consequences: { added: [], removed: [], from: ['one', 'two'], to: ['two', 'one'] } }],
      'reordered consequences are a change (incidents name a consequence by index)'
    )

    const d7 = diffContent(
      v(terms({ clauses: base })),
      v(terms({ clauses: [{ key: 'k', text: 'New text.', appliesTo: [U2], consequences: ['one'] }] }))
    )
    t.strictSame(
      d7.clauses.changed,
      [
        {
          key: 'k',
          text: { from: 'Old text.', to: 'New text.' },
          appliesTo: { from: 'all', to: [U2] },
          consequences: { added: [], removed: ['two'], from: ['one', 'two'], to: ['one'] }
        }
      ],
      'every field at once'
    )
    t.strictSame(d7.clauses.added, [])
    t.strictSame(d7.clauses.removed, [])
  })

  t.test('title, category, cadence and note', async (t) => {
    t.strictSame(diffContent(v(terms()), v(terms({ title: 'Phones, openly' }))), {
      ...empty,
      title: { from: 'Phone transparency', to: 'Phones, openly' }
    })
    t.strictSame(diffContent(v(terms()), v(terms({ category: 'digital' }))), {
      ...empty,
      category: { from: 'transparency', to: 'digital' }
    })
    t.strictSame(
      diffContent(v(terms()), v(terms({ review: { rrule: 'FREQ=WEEKLY', time: '19:00' } }))),
      { ...empty, review: { rrule: { from: 'FREQ=MONTHLY;BYDAY=1SU', to: 'FREQ=WEEKLY' } } },
      'rrule only'
    )
    t.strictSame(
      diffContent(v(terms()), v(terms({ review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU', time: '20:30' } }))),
      { ...empty, review: { time: { from: '19:00', to: '20:30' } } },
      'time only'
    )
    t.strictSame(
      diffContent(v(terms()), v(terms({ note: 'After our session.' }))),
      { ...empty, note: { from: null, to: 'After our session.' } },
      'note added'
    )
    t.strictSame(
      diffContent(v(terms({ note: 'First.' })), v(terms({ note: 'Second.' }))),
      { ...empty, note: { from: 'First.', to: 'Second.' } },
      'note changed'
    )
    t.strictSame(
      diffContent(v(terms({ note: 'First.' })), v(terms())),
      { ...empty, note: { from: 'First.', to: null } },
      'note dropped'
    )
    const all = diffContent(
      v(terms()),
      v(terms({ title: 'T', category: 'other', review: { rrule: 'FREQ=YEARLY;BYMONTH=1', time: '08:00' }, note: 'N.' }))
    )
    t.strictSame(all, {
      ...empty,
      title: { from: 'Phone transparency', to: 'T' },
      category: { from: 'transparency', to: 'other' },
      review: {
        rrule: { from: 'FREQ=MONTHLY;BYDAY=1SU', to: 'FREQ=YEARLY;BYMONTH=1' },
        time: { from: '19:00', to: '08:00' }
      },
      note: { from: null, to: 'N.' }
    })
  })

  t.test('terms versus retirement', async (t) => {
    const from = terms({ note: 'Our terms.' })
    const d = diffContent(v(from), retirement('We no longer need it.'))
    t.strictSame(d.kind, { from: 'terms', to: 'retirement' })
    t.strictSame(d.note, { from: 'Our terms.', to: 'We no longer need it.' })
    t.strictSame(d.clauses, { added: [], removed: from.clauses, changed: [] }, 'retiring removes every clause')
    t.notOk(
      'title' in d || 'category' in d || 'review' in d,
      'a retirement has no title, category or cadence to compare'
    )

    const back = diffContent(retirement(null), v(from))
    t.strictSame(back.kind, { from: 'retirement', to: 'terms' })
    t.strictSame(back.clauses, { added: from.clauses, removed: [], changed: [] })
    t.strictSame(back.note, { from: null, to: 'Our terms.' })
    t.strictSame(diffContent(retirement('Done.'), retirement('Over.')), {
      ...empty,
      note: { from: 'Done.', to: 'Over.' }
    })
  })
})

t.test('GET …/versions/{n}/diff?against={m}', async (t) => {
  const ctx = await buildTestApp(t)
  const k = agreementKit(ctx)
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const { agreements: base } = await k.partnership(alice, [bob])

  const v1Content = {
    title: 'Phone transparency',
    category: 'transparency',
    clauses: [
      {
        key: 'no-hidden-chats',
        text: "We don't hide conversations.",
        consequences: ['We talk within 48 hours.', 'We see our counselor if either asks.']
      },
      { key: 'phone-free-dinner', text: 'No phones at dinner.' },
      { key: 'shared-location', text: 'We share locations on evenings out.' }
    ],
    review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU' }
  }
  const created = await ctx.request({ method: 'POST', url: base, token: alice.token, body: { content: v1Content } })
  t.equal(created.statusCode, 201, created.body)
  const a = created.json()
  const signed = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/1/signatures`,
    token: bob.token,
    body: { contentHash: a.proposal.contentHash }
  })
  t.equal(signed.statusCode, 201, signed.body)

  const etag = (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: bob.token })).headers.etag as string
  const v2Content = {
    title: 'Phones, openly',
    category: 'digital',
    clauses: [
      { key: 'shared-location', text: 'We share locations when one of us asks.' },
      {
        key: 'no-hidden-chats',
        text: "We don't hide conversations.",
        consequences: ['We talk within 48 hours.', 'A calm walk together.']
      },
      {
        key: 'weekend-offline',
        text: 'One offline afternoon each weekend.',
        consequences: ['We plan the next one together.']
      }
    ],
    review: { rrule: 'FREQ=WEEKLY', time: '20:00' },
    note: 'After our session.'
  }
  const v2 = await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions`,
    token: bob.token,
    headers: { 'if-match': etag },
    body: { basedOn: 1, content: v2Content }
  })
  t.equal(v2.statusCode, 201, v2.body)

  const forward = await ctx.request({
    method: 'GET',
    url: `${base}/${a.id}/versions/2/diff?against=1`,
    token: alice.token
  })
  t.equal(forward.statusCode, 200, forward.body)
  const f = forward.json()
  t.equal(f.from, 1)
  t.equal(f.to, 2)
  t.strictSame(
    f.diff,
    {
      title: { from: 'Phone transparency', to: 'Phones, openly' },
      category: { from: 'transparency', to: 'digital' },
      clauses: {
        added: [
          {
            key: 'weekend-offline',
            text: 'One offline afternoon each weekend.',
            appliesTo: 'all',
            consequences: ['We plan the next one together.']
          }
        ],
        removed: [{ key: 'phone-free-dinner', text: 'No phones at dinner.', appliesTo: 'all', consequences: [] }],
        changed: [
          {
            key: 'no-hidden-chats',
            consequences: {
              added: ['A calm walk together.'],
              removed: ['We see our counselor if either asks.'],
              from: ['We talk within 48 hours.', 'We see our counselor if either asks.'],
              to: ['We talk within 48 hours.', 'A calm walk together.']
            }
          },
          {
            key: 'shared-location',
            text: { from: 'We share locations on evenings out.', to: 'We share locations when one of us asks.' }
          }
        ]
      },
      review: { rrule: { from: 'FREQ=MONTHLY;BYDAY=1SU', to: 'FREQ=WEEKLY' }, time: { from: '19:00', to: '20:00' } },
      note: { from: null, to: 'After our session.' }
    },
    'the whole diff, defaults filled in'
  )

  const backward = await ctx.request({
    method: 'GET',
    url: `${base}/${a.id}/versions/1/diff?against=2`,
    token: bob.token
  })
  t.equal(backward.statusCode, 200, backward.body)
  const b = backward.json()
  t.equal(b.from, 2)
  t.equal(b.to, 1)
  const swap = <T>(c: { from: T; to: T }) => ({ from: c.to, to: c.from })
  t.strictSame(b.diff.clauses.added, f.diff.clauses.removed, 'what was added one way is removed the other')
  t.strictSame(b.diff.clauses.removed, f.diff.clauses.added)
  const byKey = (xs: Array<{ key: string }>) => [...xs].sort((x, y) => x.key.localeCompare(y.key))
  t.strictSame(
    byKey(b.diff.clauses.changed),
    [
      {
        key: 'no-hidden-chats',
        consequences: {
          added: f.diff.clauses.changed[0].consequences.removed,
          removed: f.diff.clauses.changed[0].consequences.added,
          ...swap(f.diff.clauses.changed[0].consequences)
        }
      },
      { key: 'shared-location', text: swap(f.diff.clauses.changed[1].text) }
    ],
    'changed clauses mirror field by field (listed in the order of the `from` version)'
  )
  t.strictSame(b.diff.title, swap(f.diff.title))
  t.strictSame(b.diff.category, swap(f.diff.category))
  t.strictSame(b.diff.review, { rrule: swap(f.diff.review.rrule), time: swap(f.diff.review.time) })
  t.strictSame(b.diff.note, swap(f.diff.note))

  const self = await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/2/diff?against=2`, token: bob.token })
  t.strictSame(self.json(), { from: 2, to: 2, diff: empty }, 'a version against itself')

  const missing = await ctx.request({
    method: 'GET',
    url: `${base}/${a.id}/versions/2/diff?against=9`,
    token: alice.token
  })
  isInvalid(t, missing, '/against', 'against a version that does not exist')
  t.equal(problemOf(missing).errors?.length, 1)

  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/9/diff?against=1`, token: alice.token }))
      .statusCode,
    404,
    'an unknown version itself is 404'
  )
  for (const against of ['0', 'x', '']) {
    isInvalid(
      t,
      await ctx.request({
        method: 'GET',
        url: `${base}/${a.id}/versions/2/diff?against=${against}`,
        token: alice.token
      }),
      '/against',
      `against=${against}`
    )
  }
  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/2/diff`, token: alice.token })).statusCode,
    400,
    'against is required'
  )
  const stranger = await k.person('Mallory')
  t.equal(
    (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/2/diff?against=1`, token: stranger.token }))
      .statusCode,
    404,
    'a non-member learns nothing'
  )
})
