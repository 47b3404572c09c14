import { AsyncLocalStorage } from 'node:async_hooks'
import type { Db, Tx } from './client.ts'

/** Work that must commit with whatever transaction the current request runs (see idempotency: its claim). */
const beforeCommit = new AsyncLocalStorage<(tx: Tx) => Promise<void>>()

/**
 * The one way a use case opens a transaction: its work, then, in the same
 * transaction, whatever the request registered to commit with it. That is how
 * an Idempotency-Key's claim is marked done in the transaction that did the
 * work: if the process dies after the commit and before the answer is
 * recorded, a retry knows the work was done and does not do it again.
 */
export function transaction<T> (db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const result = await work(tx)
    await beforeCommit.getStore()?.(tx)
    return result
  })
}

/** Runs `next` (the rest of a request) with `hook` committed by every transaction it opens. */
export function commitWith (hook: (tx: Tx) => Promise<void>, next: () => void): void {
  beforeCommit.run(hook, next)
}
