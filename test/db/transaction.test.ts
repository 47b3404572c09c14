import t from 'tap'
import type { Db, Tx } from '../../src/db/client.ts'
import {
  committingWrite,
  commitWith,
  newWorkContext,
  runInWorkContext,
  transaction,
  type WorkContext
} from '../../src/db/transaction.ts'

// The transaction door, against a stand-in database whose commit can be made to fail the way a lost connection
// fails (postgres.js: CONNECTION_CLOSED), to hold each promise the door makes about what a request's answer means.
interface Commit {
  committed: boolean
  hooked: string[]
}
function standIn(commit: 'ok' | 'connection-lost'): { db: Db; log: Commit } {
  const log: Commit = { committed: false, hooked: [] }
  const db = {
    async transaction(work: (tx: Tx) => Promise<unknown>) {
      const result = await work({ tag: 'tx' } as unknown as Tx)
      if (commit === 'connection-lost')
        throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' })
      log.committed = true
      return result
    }
  } as unknown as Db
  return { db, log }
}

const inRequest = <T>(work: WorkContext, run: () => Promise<T>): Promise<T> =>
  new Promise((resolve, reject) =>
    runInWorkContext(work, () => {
      run().then(resolve, reject)
    })
  )

t.test(
  'work of a request that was abandoned before its commit does not commit: TIMED_OUT, nothing changed',
  async (t) => {
    const { db, log } = standIn('ok')
    const work = newWorkContext()
    const error = await inRequest(work, () =>
      transaction(db, async () => {
        work.abandoned = true
        return 'x'
      })
    ).catch((err: { code: string }) => err)
    t.equal((error as { code: string }).code, 'TIMED_OUT')
    t.equal(log.committed, false)
    t.equal(work.committed, false)
  }
)

t.test(
  'a commit whose connection is lost leaves the outcome unknown, and says so (class: a 503 that claims nothing changed)',
  async (t) => {
    const { db } = standIn('connection-lost')
    const work = newWorkContext()
    const error = await inRequest(work, () => transaction(db, async () => 'x')).catch((err: { code: string }) => err)
    t.equal((error as { code: string }).code, 'OUTCOME_UNKNOWN')
    t.equal(work.committing, 0, 'no longer counted as committing')
    const write = await inRequest(newWorkContext(), () =>
      committingWrite(async () => {
        throw Object.assign(new Error('gone'), { code: 'ECONNRESET' })
      })
    ).catch((err: { code: string }) => err)
    t.equal(
      (write as { code: string }).code,
      'OUTCOME_UNKNOWN',
      'a single-statement write that loses its connection too'
    )
  }
)

t.test('a connection lost before the work was done is the usual unavailability: nothing was applied', async (t) => {
  const { db } = standIn('ok')
  const error = await inRequest(newWorkContext(), () =>
    transaction(db, async () => {
      throw Object.assign(new Error('gone'), { code: 'CONNECTION_CLOSED' })
    })
  ).catch((err: { code: string }) => err)
  t.equal(
    (error as { code: string }).code,
    'CONNECTION_CLOSED',
    'passed on as it is (the error handler answers 503 database-unavailable)'
  )
})

t.test(
  'what the request registered is written in its transaction, and the request knows its work committed',
  async (t) => {
    const { db, log } = standIn('ok')
    const work = newWorkContext()
    const result = await inRequest(work, async () => {
      commitWith(async (tx) => {
        log.hooked.push((tx as unknown as { tag: string }).tag)
      })
      return transaction(db, async () => 'done')
    })
    t.equal(result, 'done')
    t.same(log.hooked, ['tx'], 'the hook ran inside the transaction')
    t.equal(work.committed, true)
    t.equal(work.committing, 0)
  }
)

t.test('outside a request (the scheduler), a transaction is just a transaction', async (t) => {
  const { db, log } = standIn('ok')
  t.equal(await transaction(db, async () => 'plain'), 'plain')
  t.equal(log.committed, true)
})
