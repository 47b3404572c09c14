import vm from 'node:vm'

/** What runBounded answers when the work ran out of time (it was stopped, and nothing it did is used). */
export const OUT_OF_TIME = Symbol('out of time')

// One context and one script for every call: V8 stops whatever JavaScript runs inside runInContext once the
// timeout passes, the callee's own frames included, and the call throws ERR_SCRIPT_EXECUTION_TIMEOUT.
const context = vm.createContext({ job: null as (() => unknown) | null, result: undefined as unknown })
const script = new vm.Script('result = job()')

/**
 * Runs synchronous work that a library may loop in for far longer than a
 * request may take (rrule steps day by day to the year 9999 through a rule with
 * no occurrence), stopping it after `ms` milliseconds of main-thread time. The
 * work must not keep state that a stop halfway would leave broken.
 */
export function runBounded<T>(work: () => T, ms: number): T | typeof OUT_OF_TIME {
  context.job = work
  try {
    script.runInContext(context, { timeout: ms })
    return context.result as T
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return OUT_OF_TIME
    throw err
  } finally {
    context.job = null
    context.result = undefined
  }
}
