// What the checks read back through the API, each thing once per check pass (a pass reads a lot:
// every event of every touched partnership, every version of every touched agreement).

import { type Event, loadEvents } from './chain.ts'
import type { Actor, Api, Reply } from './client.ts'
import type { Registry } from './world.ts'

export interface View {
  readonly api: Api
  readerOf(pid: string): Actor | undefined
  events(pid: string): Promise<Event[] | null>
  /** Every version of an agreement (null when it cannot be read). */
  versions(pid: string, aid: string): Promise<any[] | null>
  agreements(pid: string): Promise<any[] | null>
  /** Every partnership the actor is a member of. */
  partnershipsOf(actor: Actor): Promise<any[] | null>
  get(path: string, actor: Actor): Promise<Reply>
}

/** Every item of a paginated list (`{items, nextCursor}`), or null when a page does not answer 200. */
async function allPages(api: Api, path: string, actor: Actor): Promise<any[] | null> {
  const items: any[] = []
  let cursor: string | null = null
  do {
    const sep = path.includes('?') ? '&' : '?'
    const page = await api.request(
      'GET',
      `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { token: actor.token }
    )
    if (page.status !== 200) return null
    items.push(...page.json.items)
    cursor = page.json.nextCursor
  } while (cursor)
  return items
}

export function newView(api: Api, registry: Registry): View {
  const cache = new Map<string, Promise<any>>()
  const once = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    if (!cache.has(key)) cache.set(key, load())
    return cache.get(key)!
  }
  const readerOf = (pid: string) => registry.partnerships.get(pid)?.reader
  return {
    api,
    readerOf,
    events: (pid) =>
      once(`e:${pid}`, async () => {
        const w = registry.partnerships.get(pid)
        return w ? loadEvents(api, pid, w) : null
      }),
    versions: (pid, aid) =>
      once(`v:${aid}`, async () => {
        const r = readerOf(pid)
        return r ? allPages(api, `/v1/partnerships/${pid}/agreements/${aid}/versions`, r) : null
      }),
    agreements: (pid) =>
      once(`a:${pid}`, async () => {
        const r = readerOf(pid)
        return r ? allPages(api, `/v1/partnerships/${pid}/agreements`, r) : null
      }),
    partnershipsOf: (actor) => once(`p:${actor.sub}`, () => allPages(api, '/v1/partnerships', actor)),
    get: (path, actor) => once(`g:${actor.sub}:${path}`, () => api.request('GET', path, { token: actor.token }))
  }
}
