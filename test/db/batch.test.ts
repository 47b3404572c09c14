import t from 'tap'
import { Batcher } from '../../src/db/batch.ts'

/** A run whose batches are recorded and which finishes when the test says so. */
function recorder<I>(
  answer: (input: I) => PromiseSettledResult<string> = (i) => ({ status: 'fulfilled', value: `done ${String(i)}` })
) {
  const batches: I[][] = []
  const pending: Array<() => void> = []
  const run = async (inputs: I[]) => {
    batches.push(inputs)
    await new Promise<void>((resolve) => pending.push(resolve))
    return inputs.map(answer)
  }
  const finishNext = async () => {
    pending.shift()?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { batches, run, finishNext }
}

t.test('a lone call runs at once; calls that arrive while it runs wait and run together', async (t) => {
  const r = recorder<number>()
  const batcher = new Batcher({ run: r.run, maxInFlight: 1 })
  const first = batcher.submit(1)
  t.same(r.batches, [[1]], 'the first call did not wait')
  const rest = [2, 3, 4].map((i) => batcher.submit(i))
  t.same(r.batches, [[1]], 'the others wait while one batch runs')
  await r.finishNext()
  t.equal(await first, 'done 1')
  t.same(r.batches, [[1], [2, 3, 4]], 'then run as one batch')
  await r.finishNext()
  t.same(await Promise.all(rest), ['done 2', 'done 3', 'done 4'], 'each call gets its own answer')
})

t.test('maxInFlight batches run at once, and no batch exceeds maxBatch', async (t) => {
  const r = recorder<number>()
  const batcher = new Batcher({ run: r.run, maxInFlight: 2, maxBatch: 3 })
  const all = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => batcher.submit(i))
  t.same(r.batches, [[1], [2]], 'two run at once, each alone')
  await r.finishNext()
  t.same(r.batches, [[1], [2], [3, 4, 5]], 'a finished batch makes room for the next, cut at maxBatch')
  await r.finishNext()
  await r.finishNext()
  await r.finishNext()
  t.same(r.batches, [[1], [2], [3, 4, 5], [6, 7, 8]])
  t.equal((await Promise.all(all)).length, 8)
})

t.test(
  'with a key, a batch holds at most one call per key; the others keep their order for later batches',
  async (t) => {
    const r = recorder<string>()
    const batcher = new Batcher({ run: r.run, key: (s: string) => s[0]!, maxInFlight: 1 })
    const all = ['a1', 'a2', 'b1', 'a3', 'c1', 'b2'].map((s) => batcher.submit(s))
    t.same(r.batches, [['a1']])
    await r.finishNext()
    t.same(r.batches[1], ['a2', 'b1', 'c1'])
    await r.finishNext()
    t.same(r.batches[2], ['a3', 'b2'])
    await r.finishNext()
    t.same(
      await Promise.all(all),
      ['a1', 'a2', 'b1', 'a3', 'c1', 'b2'].map((s) => `done ${s}`)
    )
  }
)

t.test('each call of a batch succeeds or fails on its own; a run that throws fails the whole batch', async (t) => {
  const r = recorder<number>((i) =>
    i % 2 === 0 ? { status: 'rejected', reason: new Error(`bad ${i}`) } : { status: 'fulfilled', value: `ok ${i}` }
  )
  const batcher = new Batcher({ run: r.run, maxInFlight: 1 })
  const results = [1, 2, 3].map((i) =>
    batcher.submit(i).then(
      (v) => v,
      (e: Error) => e.message
    )
  )
  await r.finishNext()
  await r.finishNext()
  t.same(await Promise.all(results), ['ok 1', 'bad 2', 'ok 3'])

  let calls = 0
  const throwing = new Batcher<number, string>({
    run: async () => {
      calls++
      throw new Error('connection lost')
    },
    maxInFlight: 1
  })
  const failed = await Promise.allSettled([1, 2, 3].map((i) => throwing.submit(i)))
  t.same(
    failed.map((f) => (f.status === 'rejected' ? (f.reason as Error).message : 'fulfilled')),
    ['connection lost', 'connection lost', 'connection lost']
  )
  t.equal(calls, 2, 'the first alone, then the two that waited')
  t.equal(
    await throwing.submit(4).catch((e: Error) => e.message),
    'connection lost',
    'and it keeps serving after a failure'
  )
})

t.test(
  'with gather, an idle batcher waits for the rest of the turn: calls from one turn run as one batch',
  async (t) => {
    // As on PGlite: requests read in one turn of the event loop reach the batcher from separate callbacks.
    // (Each answer is wrapped, or awaiting the callbacks would wait for the answers too.)
    const fromSeparateCallbacks = async (batcher: Batcher<number, string>) =>
      (
        await Promise.all(
          [1, 2, 3].map(
            (i) =>
              new Promise<{ answer: Promise<string> }>((resolve) =>
                setImmediate(() => resolve({ answer: batcher.submit(i) }))
              )
          )
        )
      ).map((c) => c.answer)
    const plain = recorder<number>()
    const eager = new Batcher({ run: plain.run })
    const eagerCalls = await fromSeparateCallbacks(eager)
    t.same(plain.batches, [[1]], 'without gather the first call runs alone')
    await plain.finishNext()
    await plain.finishNext()
    t.same(await Promise.all(eagerCalls), ['done 1', 'done 2', 'done 3'])

    const gathered = recorder<number>()
    const gathering = new Batcher({ run: gathered.run, gather: true })
    const calls = await fromSeparateCallbacks(gathering)
    t.same(gathered.batches, [], 'nothing runs during the turn')
    await new Promise((resolve) => setImmediate(resolve))
    t.same(gathered.batches, [[1, 2, 3]], 'then the turn’s three calls run as one batch')
    const later = gathering.submit(4)
    t.same(gathered.batches, [[1, 2, 3]], 'a call while a batch runs waits for it, as without gather')
    await gathered.finishNext()
    t.same(gathered.batches, [[1, 2, 3], [4]], 'and runs next, without waiting for another turn')
    await gathered.finishNext()
    t.same(await Promise.all([...calls, later]), ['done 1', 'done 2', 'done 3', 'done 4'])
  }
)
