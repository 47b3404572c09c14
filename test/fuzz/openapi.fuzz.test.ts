import { readFile } from 'node:fs/promises'
import fc from 'fast-check'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { type OpenApiDocument, type Operation, operationsOf } from './contract.ts'
import { RequestFactory } from './generate.ts'
import type { FuzzRequest } from './request.ts'
import { Fuzzer } from './runner.ts'
import { CALLERS } from './world.ts'

/*
 * Property-based fuzzing of every operation of openapi/openapi.json: random
 * requests (valid ones, and ones with a random hostile part), then for each
 * operation a sweep that replaces each body field, query value, path segment
 * and header in turn by each hostile value (and sends a valid request as every
 * kind of caller). Every answer must be documented: no 5xx, a documented
 * status, a documented content type, a body valid against the documented schema.
 *
 * FUZZ_SEED (default 20260517; "random" for Date.now()) and FUZZ_RUNS (random
 * requests on top of the sweeps, default 5000) make a run reproducible;
 * FUZZ_TRACE (a regular expression over "METHOD /path input class") prints
 * the matching requests with their answers.
 */
const seed = process.env.FUZZ_SEED === 'random' ? Date.now() : Number(process.env.FUZZ_SEED ?? 20260517)
const runs = Number(process.env.FUZZ_RUNS ?? 5000)
const doc = JSON.parse(
  await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')
) as OpenApiDocument
const operations = operationsOf(doc)

const ctx = await buildTestApp(t)
t.comment(`FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`)

/** `list` in an order drawn from `seed`: operations interleave, as clients' requests do. */
function shuffled<T>(list: T[], seed: number): T[] {
  const keys = fc.sample(fc.integer(), { seed, numRuns: list.length })
  return list
    .map((item, i) => ({ item, key: keys[i]! }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item)
}

/**
 * The sweep of one operation: every hostile variant, and a valid request by
 * every kind of caller. The base is a request the server accepted during the
 * random phase when there is one (so that only the substituted part can be
 * the reason for what happens), else a tame generated one.
 */
function sweepOf(factory: RequestFactory, op: Operation, i: number, accepted: FuzzRequest[]): FuzzRequest[] {
  const [tame] = fc.sample(factory.valid(op, fc.constant('partner'), true), { seed: seed + i, numRuns: 1 })
  const [full] = fc.sample(factory.fullBody(op), { seed: seed + i, numRuns: 1 })
  const known = accepted.map(
    (r): FuzzRequest => ({
      ...r,
      caller: 'partner',
      ifMatch: op.method === 'GET' ? undefined : '*',
      idempotencyKey: undefined,
      inputClass: 'valid',
      hostile: undefined
    })
  )
  const base = known[0] ?? tame!
  // Without a known-good base, spread the variants over the real resources (version 1, 2, 3…).
  const requests = factory
    .sweep(base, [...known.map((r) => r.body), full])
    .map((r, j) => (known.length ? r : { ...r, k: j }))
  for (const caller of CALLERS) requests.push({ ...base, caller, inputClass: `valid, caller: ${caller}` })
  return requests
}

t.test('no input makes any operation answer 5xx or undocumented statuses, content types or bodies', async (t) => {
  const started = Date.now()
  const fuzzer = new Fuzzer(ctx, doc, { checkEvery: 50, trace: process.env.FUZZ_TRACE })
  const world = await fuzzer.arrange()
  const factory = new RequestFactory(doc, Object.keys(world.real))

  // Random requests first: valid ones (boundaries, every caller) and ones with a random hostile part.
  const random = operations.flatMap((op, i) =>
    fc.sample(factory.random(op), { seed: seed + i, numRuns: Math.ceil(runs / operations.length) })
  )
  for (const r of shuffled(random, seed)) await fuzzer.send(r)
  // Operations nothing valid got through yet (cross-field rules the document does not state; only a non-member may accept):
  // keep trying, on a fresh world halfway, to have a known-good base for their sweep.
  for (const [i, op] of operations.entries()) {
    const attempts = fc.sample(
      factory.valid(op, fc.constantFrom('partner', 'partner', 'otherPartner', 'stranger'), true),
      { seed: seed - i, numRuns: 80 }
    )
    for (const [j, r] of attempts.entries()) {
      if (fuzzer.accepted.has(op.id)) break
      if (j === 40) await fuzzer.arrange()
      await fuzzer.send(r)
    }
  }
  // Then every hostile value in every place, operation by operation, based on what the server accepted.
  for (const [i, op] of operations.entries()) {
    await fuzzer.ensureArranged()
    for (const r of sweepOf(factory, op, i, fuzzer.accepted.get(op.id) ?? [])) await fuzzer.send(r)
  }

  const reached = [...fuzzer.reached].map(
    ([op, statuses]) =>
      `${op}: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}`
  )
  t.comment(
    `${fuzzer.sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; world arranged ${fuzzer.rearranged} times (${(fuzzer.arrangingMs / 1000).toFixed(1)} s)\n${reached.join('\n')}`
  )
  t.equal(fuzzer.reached.size, operations.length, 'every operation of the document was exercised')
  t.ok(fuzzer.sent >= 10_000 || process.env.FUZZ_RUNS !== undefined, `at least 10,000 requests (sent ${fuzzer.sent})`)
  // One failure per operation, status and kind of defect; inside, every class of input with its first request, to reproduce with the seed.
  for (const { title, findings } of fuzzer.groups()) {
    t.fail(title, {
      seed,
      found: findings.map((f) => ({
        input: f.inputClass,
        times: f.count,
        substitutions: f.inputs,
        request: f.example,
        answer: f.detail
      }))
    })
  }
})
