// Everything the harness creates outside its own memory (child processes, the private PostgreSQL
// cluster, temporary directories, databases on the shared server) registers its undoing here, so a
// run leaves nothing behind: at the end, on a failure, and on Ctrl-C.
import { log } from './util.ts'

const tasks: Array<{ what: string; undo: () => Promise<void> | void }> = []

/** FAULTS_KEEP=1 keeps temporary directories (the API's logs, PGlite's DATA_DIR) for a post-mortem. */
export const keepFiles = process.env.FAULTS_KEEP === '1'

/** Registers an undo step; returns a function that runs it now (and forgets it). */
export function onCleanup(what: string, undo: () => Promise<void> | void): () => Promise<void> {
  const task = { what, undo }
  tasks.push(task)
  return async () => {
    const i = tasks.indexOf(task)
    if (i >= 0) tasks.splice(i, 1)
    await undo()
  }
}

/** Runs every registered step, newest first (a cluster stops before its directory goes); never throws. */
export async function cleanupAll(): Promise<void> {
  while (tasks.length > 0) {
    const task = tasks.pop()!
    try {
      await task.undo()
    } catch (err) {
      log(`cleanup: ${task.what} failed: ${(err as Error).message}`)
    }
  }
}

/** Ctrl-C or a SIGTERM still stops the private cluster and removes temporary data. */
export function cleanupOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`\n${signal}: cleaning up…`)
      void cleanupAll().finally(() => process.exit(130))
    })
  }
}
